package check

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/bldbuild/bld/internal/ignore"
)

// This file holds the checks that read the build context:
// MissingDockerignore, and the .dockerignore matcher CopyIgnoredFile uses.

// ignore returns the context's .dockerignore matcher: Options.Ignore, or
// one read from ContextDir/.dockerignore; nil if there is none.
func (c *checker) ignore() func(string) bool {
	if c.opt.Ignore != nil {
		return c.opt.Ignore
	}
	if c.opt.ContextDir == "" {
		return nil
	}
	if c.ignoreRead {
		return c.ignoreFn
	}
	c.ignoreRead = true
	f, err := os.Open(filepath.Join(c.opt.ContextDir, ".dockerignore"))
	if err != nil {
		return nil
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil || len(patterns) == 0 {
		return nil
	}
	m, err := ignore.Compile(patterns)
	if err != nil {
		return nil
	}
	c.ignoreFn = m.MatchesOrParentMatches
	return c.ignoreFn
}

// An offender is a file or directory of the context that should not be
// sent.
type offender struct {
	rel     string
	pattern string // what to put in .dockerignore
	size    int64
}

// Directories that are history, dependencies or caches of the host.
var heavyDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, "node_modules": true, ".venv": true, "venv": true,
	"__pycache__": true, ".pytest_cache": true, ".mypy_cache": true, ".tox": true, ".terraform": true,
	".idea": true, ".gradle": true, ".next": true, ".nuxt": true,
}

// largeFile is the size from which any context file is reported.
const largeFile = 100 << 20

func (c *checker) context() {
	if c.opt.ContextDir == "" {
		return
	}
	var whole instructions.Command
	var excludes []string
	for _, s := range c.linted {
		for _, x := range s.inst.Commands {
			if _, ex, ok := wholeContext(x); ok && whole == nil {
				whole, excludes = x, ex
			}
		}
	}
	if whole == nil {
		return
	}
	ignored := c.ignore()
	if len(excludes) > 0 {
		if m, err := ignore.Compile(excludes); err == nil {
			prev := ignored
			ignored = func(rel string) bool {
				return m.MatchesOrParentMatches(rel) || prev != nil && prev(rel)
			}
		}
	}
	offenders := scanContext(c.opt.ContextDir, ignored)
	if len(offenders) == 0 {
		return
	}
	slices.SortFunc(offenders, func(a, b offender) int {
		return cmp.Or(cmp.Compare(b.size, a.size), strings.Compare(a.rel, b.rel))
	})
	var total int64
	var names, patterns []string
	for i, o := range offenders {
		total += o.size
		if i < 4 {
			names = append(names, fmt.Sprintf("%s (%s)", o.rel, human(o.size)))
		}
		if !slices.Contains(patterns, o.pattern) {
			patterns = append(patterns, o.pattern)
		}
	}
	list := strings.Join(names, ", ")
	if n := len(offenders) - len(names); n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	msg := fmt.Sprintf("%s sends %s, %s in all, that no .dockerignore excludes: every build reads and hashes them, and they land in the image", source(whole), list, human(total))
	if len(patterns) > 8 {
		patterns = append(patterns[:8], "...")
	}
	fix := "add a .dockerignore with: " + strings.Join(patterns, " ")
	c.report(ruleMissingDockerignore, whole.Location(), whole.Comments(), msg, fix)
}

// scanContext walks the context and returns what should not be in it.
// Unreadable entries are skipped: this is advice, not the build.
func scanContext(root string, ignore func(string) bool) []offender {
	var out []offender
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return nil
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if ignore != nil && ignore(rel) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		nested := strings.Contains(rel, "/")
		pattern := func(p string) string {
			if nested {
				return "**/" + p
			}
			return p
		}
		if d.IsDir() {
			if heavyDirs[name] || secretFile(name) {
				out = append(out, offender{rel: rel, pattern: pattern(name), size: dirSize(p)})
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, ierr := d.Info()
		if ierr != nil {
			return nil
		}
		switch {
		case secretFile(name):
			out = append(out, offender{rel: rel, pattern: pattern(name), size: info.Size()})
		case path.Ext(name) == ".log":
			out = append(out, offender{rel: rel, pattern: pattern("*.log"), size: info.Size()})
		case info.Size() >= largeFile:
			out = append(out, offender{rel: rel, pattern: rel, size: info.Size()})
		}
		return nil
	})
	return out
}

// maxSizeEntries bounds the walk of one directory whose size is reported:
// past it the size is a lower bound, which is enough to make the point.
const maxSizeEntries = 200_000

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	entries := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if entries++; entries > maxSizeEntries {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}
