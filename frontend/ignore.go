package frontend

// The matcher itself is internal/ignore's (hand-written, in bounded
// time); this file reads the file and bounds its size.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher/ignorefile"

	"github.com/bldbuild/bld/internal/ignore"
)

// DefaultMaxIgnorePatterns is the default bound on the patterns of a
// .dockerignore. Real ones have tens to a few hundred lines (large
// monorepos a few thousand); at 10,000 patterns the worst case, every
// pattern's prefilter checked for every context path, stays in the
// microseconds per path, so a 100k-file context is still walked in
// seconds. BuildKit has no bound.
const DefaultMaxIgnorePatterns = 10_000

// IgnoreOptions bound what LoadIgnoreWith accepts.
type IgnoreOptions struct {
	// MaxPatterns is the largest number of patterns accepted; 0 means
	// DefaultMaxIgnorePatterns, a negative value means no bound.
	MaxPatterns int
}

// Ignore is the .dockerignore matcher of a build context. A nil *Ignore
// excludes nothing. It is safe for concurrent use.
type Ignore struct {
	file     string // the file read, "" if none
	patterns []string
	m        *ignore.Matcher
}

// LoadIgnore is LoadIgnoreWith with the default options.
func LoadIgnore(contextDir, dockerfilePath string) (*Ignore, error) {
	return LoadIgnoreWith(contextDir, dockerfilePath, IgnoreOptions{})
}

// LoadIgnoreWith reads the ignore file of a build context, by BuildKit's
// rule: "<dockerfilePath>.dockerignore" (e.g.
// build/app.Dockerfile.dockerignore) when it exists, else
// contextDir/.dockerignore. With neither, the result excludes nothing.
// dockerfilePath may be "" (then only contextDir is looked at). A file
// with more than opt.MaxPatterns patterns is an error naming the file and
// the limit.
func LoadIgnoreWith(contextDir, dockerfilePath string, opt IgnoreOptions) (*Ignore, error) {
	limit := opt.MaxPatterns
	if limit == 0 {
		limit = DefaultMaxIgnorePatterns
	}
	var candidates []string
	if dockerfilePath != "" {
		candidates = append(candidates, dockerfilePath+".dockerignore")
	}
	candidates = append(candidates, filepath.Join(contextDir, ".dockerignore"))
	for _, file := range candidates {
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		if limit > 0 && len(patterns) > limit {
			return nil, fmt.Errorf("%s: %d patterns, more than the limit of %d (raise it with --limit ignore-patterns=N)", file, len(patterns), limit)
		}
		m, err := ignore.Compile(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return &Ignore{file: file, patterns: patterns, m: m}, nil
	}
	return &Ignore{}, nil
}

// File returns the path of the ignore file read, or "" if there was none.
func (i *Ignore) File() string {
	if i == nil {
		return ""
	}
	return i.file
}

// Excluded reports whether the context path rel (slash-separated, relative
// to the context root) is excluded. A path is excluded when the last
// pattern matching it or one of its parents is not a "!" exception; "**"
// matches any number of directories. The context root is never excluded.
// This is patternmatcher's MatchesOrParentMatches.
//
// A directory may be excluded while a "!" pattern re-includes something
// under it; a walker must then still descend (see HasExceptions).
func (i *Ignore) Excluded(rel string) bool {
	if i == nil || i.m == nil {
		return false
	}
	rel = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(rel)), "/")
	if rel == "" {
		return false
	}
	return i.m.MatchesOrParentMatches(rel)
}

// HasExceptions reports whether any pattern is a "!" exception.
func (i *Ignore) HasExceptions() bool {
	return i != nil && i.m.Exclusions()
}

// Patterns returns the patterns as read (cleaned, "!" kept), in order.
func (i *Ignore) Patterns() []string {
	if i == nil {
		return nil
	}
	return slices.Clone(i.patterns)
}
