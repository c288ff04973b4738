package frontend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Ignore is the .dockerignore matcher of a build context. A nil *Ignore
// excludes nothing. It is safe for concurrent use.
type Ignore struct {
	file     string // the file read, "" if none
	patterns []string
	pm       *patternmatcher.PatternMatcher
}

// LoadIgnore reads the ignore file of a build context, by BuildKit's rule:
// "<dockerfilePath>.dockerignore" (e.g. build/app.Dockerfile.dockerignore)
// when it exists, else contextDir/.dockerignore. With neither, the result
// excludes nothing. dockerfilePath may be "" (then only contextDir is
// looked at).
func LoadIgnore(contextDir, dockerfilePath string) (*Ignore, error) {
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
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return &Ignore{file: file, patterns: patterns, pm: pm}, nil
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
//
// A directory may be excluded while a "!" pattern re-includes something
// under it; a walker must then still descend (see HasExceptions).
func (i *Ignore) Excluded(rel string) bool {
	if i == nil || i.pm == nil {
		return false
	}
	rel = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(rel)), "/")
	if rel == "" {
		return false
	}
	ok, err := i.pm.MatchesOrParentMatches(filepath.FromSlash(rel))
	return err == nil && ok
}

// HasExceptions reports whether any pattern is a "!" exception.
func (i *Ignore) HasExceptions() bool {
	return i != nil && i.pm != nil && i.pm.Exclusions()
}

// Patterns returns the patterns as read (cleaned, "!" kept), in order.
func (i *Ignore) Patterns() []string {
	if i == nil {
		return nil
	}
	return slices.Clone(i.patterns)
}
