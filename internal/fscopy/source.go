package fscopy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
)

// Source is a tree to copy from: the build context (with its .dockerignore)
// or another stage's or image's root filesystem.
type Source struct {
	// Dir is the host directory that holds the tree.
	Dir string
	// Exclude reports whether a path is excluded by .dockerignore; rel is
	// slash-separated and relative to Dir. It decides for each path on its
	// own, parents included (patternmatcher's MatchesOrParentMatches): an
	// excluded directory is still walked for re-included ("!") children.
	// Nil: nothing is excluded.
	Exclude func(rel string) bool
	// Prune, if set, reports that nothing below the excluded directory rel
	// can be re-included, so the walk skips it (a .dockerignore without "!"
	// patterns, or none that reach below rel). Nil: excluded directories are
	// walked.
	Prune func(rel string) bool
	// IsContext marks the build context: its files are owned by 0:0 in the
	// image unless --chown says otherwise, and Checksum leaves their ids
	// out. A stage's files keep their owners.
	IsContext bool
}

// ErrNotFound is wrapped by the error for a source that does not exist.
var ErrNotFound = errors.New("file not found")

// item is one thing a COPY copies: a selected path in the source tree, or
// a URL.
type item struct {
	src      string // the source as written
	url      string // ADD: the URL; nothing else is set
	match    string // the matched path in the source root, links not resolved ("." for the root)
	resolved string // match with every link resolved inside the root
	name     string // base name, for copying into a directory
	sub      string // --parents: the path below dest; "" otherwise
	xrel     string // the path --exclude patterns see for the item ("" for a source named explicitly)
	dir      bool   // resolved is a directory
	reg      bool   // resolved is a regular file
	wild     bool   // matched by a wildcard
	lazy     bool   // an excluded directory: copied only if something below it is included
}

// selectSources expands sources (paths, wildcards, URLs) into items, in
// order. multi reports that more than one item may be copied, so dest must
// be a directory.
func selectSources(ctx context.Context, r *os.Root, src Source, sources []string, opt *Options, pm *patternmatcher.PatternMatcher) (items []*item, multi bool, err error) {
	cmd := opt.command()
	multi = len(sources) > 1
	onlyEmptyWildcards := len(sources) > 0
	var patterns []string
	for _, s := range sources {
		if isURL(s) {
			if !opt.Add {
				return nil, false, fmt.Errorf("%s source %q: a URL needs ADD", cmd, s)
			}
			items = append(items, &item{src: s, url: s, name: urlName(s)})
			onlyEmptyWildcards = false
			continue
		}
		if r == nil {
			return nil, false, fmt.Errorf("%s source %q: no source tree", cmd, s)
		}
		base, pat := "", s
		if opt.Parents {
			if b, p, ok := strings.Cut(s, "/./"); ok {
				base, pat = b, p
			}
		}
		base, sub := cleanRel(base), cleanRel(pat)
		full := joinRel(base, sub)
		if !hasMeta(full) {
			it, err := selectOne(r, src, s, unescape(full), cmd)
			if err != nil {
				return nil, false, err
			}
			if opt.Parents {
				it.sub = unescape(sub)
			}
			items = append(items, it)
			onlyEmptyWildcards = false
			continue
		}
		patterns = append(patterns, s)
		var skip func(string) bool
		if src.IsContext && src.Exclude != nil {
			skip = func(m string) bool {
				if !src.Exclude(m) {
					return false
				}
				fi, err := r.Lstat(m) // a directory may hold re-included paths
				return err != nil || !fi.IsDir() || (src.Prune != nil && src.Prune(m))
			}
		}
		matches, err := glob(ctx, r, full, skip, opt.Parents)
		if err != nil {
			return nil, false, fmt.Errorf("%s source %q: %w", cmd, s, err)
		}
		prefix := len(splitPath(literalPrefix(full)))
		n := 0
		for _, m := range matches {
			if err := ctx.Err(); err != nil {
				return nil, false, err
			}
			it, err := selectOne(r, src, s, m, cmd)
			if errors.Is(err, ErrNotFound) {
				continue // a dangling link or a literal tail that is absent
			}
			if err != nil {
				return nil, false, err
			}
			it.wild = true
			comps := splitPath(m)
			it.xrel = strings.Join(comps[min(prefix, len(comps)):], "/")
			if opt.Parents {
				it.sub = strings.Join(comps[min(len(splitPath(base)), len(comps)):], "/")
				it.xrel = it.sub
			}
			if pm != nil && it.xrel != "" {
				if ex, err := pm.MatchesOrParentMatches(it.xrel); err != nil {
					return nil, false, fmt.Errorf("%s --exclude: %w", cmd, err)
				} else if ex {
					continue
				}
			}
			items = append(items, it)
			n++
		}
		if n > 0 {
			onlyEmptyWildcards = false
		}
		if n > 1 {
			multi = true
		}
	}
	// BuildKit lets a wildcard match nothing; like the classic builder we
	// still fail when nothing at all was selected, which is always a mistake.
	if onlyEmptyWildcards {
		return nil, false, fmt.Errorf("%s %s: no source files were specified", cmd, quoteList(patterns))
	}
	return items, multi, nil
}

// selectOne looks up the path p (clean, relative) in the source root.
func selectOne(r *os.Root, src Source, written, p, cmd string) (*item, error) {
	resolved, err := resolveIn(r, p)
	if err != nil {
		return nil, fmt.Errorf("%s source %q: %w", cmd, written, err)
	}
	excluded := src.IsContext && src.Exclude != nil && p != "." &&
		(src.Exclude(p) || (resolved != "." && src.Exclude(resolved)))
	fi, err := r.Lstat(resolved)
	// An excluded directory may hold re-included ("!") paths: it is there
	// if anything below it is, which only its walk can tell.
	lazy := excluded && err == nil && fi.IsDir() && (src.Prune == nil || !src.Prune(resolved))
	if (excluded && !lazy) || errorsIsNotExist(err) {
		return nil, notFound(cmd, written, src.IsContext, excluded)
	}
	if err != nil {
		return nil, fmt.Errorf("%s source %q: %w", cmd, written, err)
	}
	name := filepath.Base(p)
	if p == "." {
		name = filepath.Base(resolved)
	}
	return &item{
		src:      written,
		match:    p,
		resolved: resolved,
		name:     name,
		dir:      fi.IsDir(),
		reg:      fi.Mode().IsRegular(),
		lazy:     lazy,
	}, nil
}

// notFound is the error for a missing source.
func notFound(cmd, written string, context, excluded bool) error {
	where := ""
	if context {
		where = " in build context"
		if excluded {
			where += " or excluded by .dockerignore"
		}
	}
	return fmt.Errorf("%s source %q: %w%s", cmd, written, ErrNotFound, where)
}

// glob expands a clean, relative pattern (filepath.Match syntax per path
// component) inside the root. Directories are listed after resolving their
// links inside the root; matches are returned unresolved and sorted per
// component. skip, if set, drops paths (.dockerignore). It stops when ctx
// is done.
//
// With globstar (COPY --parents, as BuildKit 1.7+), a component "**"
// matches any number of directories, none included: src/**/*.go is
// src/a.go and src/a/deep/b.go. Only real directories are descended into,
// not links to them (no loops). A trailing "**" is "*": each match brings
// its whole tree.
func glob(ctx context.Context, r *os.Root, pattern string, skip func(string) bool, globstar bool) ([]string, error) {
	cands := []string{"."}
	comps := splitPath(pattern)
	for i, c := range comps {
		if globstar && c == "**" && i < len(comps)-1 {
			var err error
			if cands, err = descendants(r, cands, skip); err != nil {
				return nil, err
			}
			continue
		}
		if globstar && c == "**" {
			c = "*"
		}
		if !hasMeta(c) {
			for i := range cands {
				cands[i] = joinRel(cands[i], unescape(c))
			}
			continue
		}
		if _, err := filepath.Match(c, ""); err != nil {
			return nil, err
		}
		var next []string
		for _, d := range cands {
			names, err := readDirNames(r, d)
			if err != nil {
				return nil, err
			}
			for _, name := range names {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if ok, _ := filepath.Match(c, name); !ok {
					continue
				}
				m := joinRel(d, name)
				if skip != nil && skip(m) {
					continue
				}
				next = append(next, m)
			}
		}
		cands = next
	}
	return slices.Compact(cands), nil
}

// descendants returns each of dirs followed by every directory below it
// (not through links), depth first in name order, once each: what "**"
// stands for. skip drops a directory and what is below it.
func descendants(r *os.Root, dirs []string, skip func(string) bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(d string) error
	walk = func(d string) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		out = append(out, d)
		names, err := readDirNames(r, d)
		if err != nil {
			return err
		}
		for _, name := range names {
			m := joinRel(d, name)
			if fi, err := r.Lstat(m); err != nil || !fi.IsDir() {
				continue // gone, a file, or a link: not descended into
			}
			if skip != nil && skip(m) {
				continue
			}
			if err := walk(m); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range dirs {
		if err := walk(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readDirNames lists the directory d (links resolved inside r), sorted; a
// path that is not a directory lists nothing.
func readDirNames(r *os.Root, d string) ([]string, error) {
	rd, err := resolveIn(r, d)
	if err != nil {
		return nil, err
	}
	if fi, err := r.Lstat(rd); err != nil || !fi.IsDir() {
		return nil, nil
	}
	f, err := openDirIn(r, rd)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// hasMeta reports whether p has an unescaped wildcard character.
func hasMeta(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// unescape removes the backslash escapes of a literal path.
func unescape(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			i++
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// literalPrefix is the leading components of p without wildcards.
func literalPrefix(p string) string {
	var pre []string
	for _, c := range splitPath(p) {
		if hasMeta(c) {
			break
		}
		pre = append(pre, c)
	}
	return strings.Join(pre, "/")
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " ")
}
