package frontend

// The .dockerignore matcher is hand-written. BuildKit uses
// github.com/moby/patternmatcher, which compiles every pattern to a regexp
// and runs each regexp against a path and against every parent of it; for
// globs such as **/*a*a*a*b123 that costs tens of microseconds per match,
// so a few hundred patterns over a few thousand files take minutes and
// twenty thousand take hours. The matcher below gives exactly
// patternmatcher's answers (the regexp it would build is compiled once at
// load, to reject what it would reject, and kept only for the rare
// patterns outside the glob subset) in time linear in path length ×
// patterns:
//
//   - each pattern is compiled once to a small instruction list (literal,
//     [^/], [^/]*, .*, (.*/)?, a character class) run as a bit-set NFA, so
//     a match costs O(len(path) × len(pattern)) whatever the pattern;
//   - each pattern carries a prefilter (its literal prefix and suffix),
//     checked with strings.HasPrefix/HasSuffix before the NFA runs;
//   - patterns are tried from the last to the first and the first that
//     matches the path or a parent decides ("last match wins", which is
//     what patternmatcher's forward loop computes).
//
// The number of patterns is bounded (IgnoreOptions.MaxPatterns).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/moby/patternmatcher/ignorefile"
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
	file       string // the file read, "" if none
	patterns   []string
	compiled   []*ignorePattern
	exceptions bool
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
		ig, err := compileIgnore(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		ig.file = file
		return ig, nil
	}
	return &Ignore{}, nil
}

// compileIgnore compiles patterns as patternmatcher.New does (trimmed,
// cleaned, "!" exceptions, checked with filepath.Match), and also rejects
// a pattern whose regexp would not compile: patternmatcher reports that
// only when the pattern is first used, which BuildKit turns into a failed
// build.
func compileIgnore(patterns []string) (*Ignore, error) {
	ig := &Ignore{patterns: patterns}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		excl := false
		if p[0] == '!' {
			if len(p) == 1 {
				return nil, errors.New(`illegal exclusion pattern: "!"`)
			}
			excl, p = true, p[1:]
			ig.exceptions = true
		}
		if _, err := filepath.Match(p, "."); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		cp, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		cp.exclusion = excl
		ig.compiled = append(ig.compiled, cp)
	}
	return ig, nil
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
	if i == nil || len(i.compiled) == 0 {
		return false
	}
	rel = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(rel)), "/")
	if rel == "" {
		return false
	}
	for k := len(i.compiled) - 1; k >= 0; k-- {
		p := i.compiled[k]
		if p.matchSelfOrParent(rel) {
			return !p.exclusion
		}
	}
	return false
}

// HasExceptions reports whether any pattern is a "!" exception.
func (i *Ignore) HasExceptions() bool {
	return i != nil && i.exceptions
}

// Patterns returns the patterns as read (cleaned, "!" kept), in order.
func (i *Ignore) Patterns() []string {
	if i == nil {
		return nil
	}
	return slices.Clone(i.patterns)
}

// matchKind is how a pattern is matched; the names and the rules that pick
// them are patternmatcher's.
type matchKind int

const (
	exactMatch  matchKind = iota // the path equals the pattern
	prefixMatch                  // "lit**": the path starts with lit
	suffixMatch                  // "**lit": the path ends with lit
	globMatch                    // anything else: prog (or re)
)

// opcode is one instruction of a compiled glob.
type opcode uint8

const (
	opLit   opcode = iota // consume r
	opOne                 // consume a rune other than '/'
	opClass               // consume a rune in (or, negated, not in) the ranges
	opStar                // consume runes other than '/', zero or more
	opAny                 // consume runes other than '\n', zero or more
	opSplit               // go on at +1 or at +skip without consuming
)

type inst struct {
	op     opcode
	neg    bool
	opt    bool // an opLit inside (.*/)?, so not a required literal
	r      rune
	skip   int
	ranges []rune // pairs lo, hi
}

// ignorePattern is one compiled pattern.
type ignorePattern struct {
	text      string // cleaned, without "!"
	exclusion bool
	kind      matchKind
	prog      []inst         // globMatch
	re        *regexp.Regexp // globMatch outside the subset prog handles
	prefix    string         // globMatch: a literal every match starts with
	suffix    string         // globMatch: a literal every match ends with
}

// compilePattern follows patternmatcher's Pattern.compile rune by rune:
// it builds the same regexp (compiled to reject what patternmatcher
// rejects) and the same match kind, and, for the glob subset, a program.
func compilePattern(p string) (*ignorePattern, error) {
	cp := &ignorePattern{text: p}
	var (
		re     strings.Builder
		kind   = exactMatch
		prog   []inst
		exotic bool
	)
	re.WriteString("^")
	s := strings.TrimPrefix(p, "\uFEFF") // text/scanner drops a leading BOM
	rs := []rune{}
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError { // an invalid byte or U+FFFD: leave it to regexp
			exotic = true
		}
		rs = append(rs, r)
		s = s[n:]
	}
	peek := func(j int) rune {
		if j < len(rs) {
			return rs[j]
		}
		return -1
	}
	for i, j := 0, 0; j < len(rs); i++ {
		ch := rs[j]
		j++
		switch {
		case ch == '*':
			if peek(j) == '*' {
				j++
				if peek(j) == '/' {
					j++
				}
				if peek(j) == -1 {
					if kind == exactMatch {
						kind = prefixMatch
					} else {
						re.WriteString(".*")
						prog = append(prog, inst{op: opAny})
						kind = globMatch
					}
				} else {
					re.WriteString("(.*/)?")
					prog = append(prog, inst{op: opSplit, skip: 3}, inst{op: opAny}, inst{op: opLit, r: '/', opt: true})
					kind = globMatch
				}
				if i == 0 {
					kind = suffixMatch
				}
			} else {
				re.WriteString("[^/]*")
				prog = append(prog, inst{op: opStar})
				kind = globMatch
			}
		case ch == '?':
			re.WriteString("[^/]")
			prog = append(prog, inst{op: opOne})
			kind = globMatch
		case strings.ContainsRune(".+()|{}$", ch):
			re.WriteString(`\` + string(ch))
			prog = append(prog, inst{op: opLit, r: ch})
		case ch == '\\':
			if peek(j) == -1 {
				re.WriteString(`\`)
				exotic = true
				continue
			}
			next := rs[j]
			j++
			re.WriteString(`\` + string(next))
			kind = globMatch
			if next < utf8.RuneSelf && !isAlnum(next) {
				prog = append(prog, inst{op: opLit, r: next})
			} else {
				exotic = true
			}
		case ch == '[':
			re.WriteString("[")
			kind = globMatch
			in, end, ok := parseClass(rs, j)
			if !ok {
				exotic = true
				continue
			}
			// What the scanner would add for the class's runes: each
			// is a literal or a range dash, so only the escapes differ.
			for _, c := range rs[j:end] {
				if strings.ContainsRune(".+()|{}$", c) {
					re.WriteByte('\\')
				}
				re.WriteRune(c)
			}
			re.WriteString("]")
			prog = append(prog, in)
			j = end + 1
		case ch == ']':
			re.WriteString("]")
			kind = globMatch
			exotic = true
		default:
			re.WriteRune(ch)
			if ch == '^' {
				exotic = true
			}
			prog = append(prog, inst{op: opLit, r: ch})
		}
	}
	cp.kind = kind
	if kind != globMatch {
		return cp, nil
	}
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, err
	}
	if exotic {
		cp.re = rx
		return cp, nil
	}
	cp.prog = prog
	var b strings.Builder
	for _, in := range prog {
		if in.op != opLit {
			break
		}
		b.WriteRune(in.r)
	}
	cp.prefix = b.String()
	k := len(prog)
	for k > 0 && prog[k-1].op == opLit && !prog[k-1].opt {
		k--
	}
	b.Reset()
	for _, in := range prog[k:] {
		b.WriteRune(in.r)
	}
	cp.suffix = b.String()
	return cp, nil
}

// parseClass parses the class whose '[' is just before rs[j], in the
// subset the program handles: an optional leading '^', then single runes
// and ranges lo-hi of runes other than []\*?-^, then ']'. It returns the
// instruction and the index of the closing ']'.
func parseClass(rs []rune, j int) (inst, int, bool) {
	in := inst{op: opClass}
	if j < len(rs) && rs[j] == '^' {
		in.neg = true
		j++
	}
	plain := func(r rune) bool { return !strings.ContainsRune(`[]\*?-^`, r) && r != utf8.RuneError }
	for j < len(rs) && rs[j] != ']' {
		lo := rs[j]
		if !plain(lo) {
			return inst{}, 0, false
		}
		hi := lo
		if j+2 < len(rs) && rs[j+1] == '-' && rs[j+2] != ']' {
			hi = rs[j+2]
			if !plain(hi) {
				return inst{}, 0, false
			}
			j += 2
		}
		in.ranges = append(in.ranges, lo, hi)
		j++
	}
	if j >= len(rs) || len(in.ranges) == 0 {
		return inst{}, 0, false
	}
	return in, j, true
}

func isAlnum(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// matchSelfOrParent reports whether the pattern matches rel or one of its
// parent directories.
func (p *ignorePattern) matchSelfOrParent(rel string) bool {
	if p.match(rel) {
		return true
	}
	for k := 0; k < len(rel); k++ {
		if rel[k] == '/' && p.match(rel[:k]) {
			return true
		}
	}
	return false
}

// match reports whether the pattern matches the whole of s.
func (p *ignorePattern) match(s string) bool {
	switch p.kind {
	case exactMatch:
		return s == p.text
	case prefixMatch:
		return strings.HasPrefix(s, p.text[:len(p.text)-2])
	case suffixMatch:
		suffix := p.text[2:]
		return strings.HasSuffix(s, suffix) || suffix != "" && suffix[0] == '/' && s == suffix[1:]
	}
	if p.re != nil {
		return p.re.MatchString(s)
	}
	if !strings.HasPrefix(s, p.prefix) || !strings.HasSuffix(s, p.suffix) {
		return false
	}
	return runProg(p.prog, s)
}

// runProg runs a glob program over s as an NFA over bit sets: every
// instruction's successors are later instructions, so one forward pass
// computes the closure. Cost: O(len(s) × len(prog)).
func runProg(prog []inst, s string) bool {
	n := len(prog)
	words := (n + 1 + 63) / 64
	buf := make([]uint64, 2*words)
	cur, next := buf[:words], buf[words:]
	set := func(b []uint64, i int) { b[i/64] |= 1 << (i % 64) }
	has := func(b []uint64, i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
	closure := func(b []uint64) bool {
		any := false
		for i := 0; i <= n; i++ {
			if !has(b, i) {
				continue
			}
			any = true
			if i == n {
				break
			}
			switch prog[i].op {
			case opStar, opAny:
				set(b, i+1)
			case opSplit:
				set(b, i+1)
				set(b, i+prog[i].skip)
			}
		}
		return any
	}
	set(cur, 0)
	closure(cur)
	for _, r := range s { // invalid bytes read as utf8.RuneError, as regexp does
		clear(next)
		for i := 0; i < n; i++ {
			if !has(cur, i) {
				continue
			}
			in := &prog[i]
			switch in.op {
			case opLit:
				if r == in.r {
					set(next, i+1)
				}
			case opOne:
				if r != '/' {
					set(next, i+1)
				}
			case opClass:
				if inRanges(in.ranges, r) != in.neg {
					set(next, i+1)
				}
			case opStar:
				if r != '/' {
					set(next, i)
				}
			case opAny:
				if r != '\n' {
					set(next, i)
				}
			}
		}
		if !closure(next) {
			return false
		}
		cur, next = next, cur
	}
	return has(cur, n)
}

func inRanges(ranges []rune, r rune) bool {
	for k := 0; k+1 < len(ranges); k += 2 {
		if ranges[k] <= r && r <= ranges[k+1] {
			return true
		}
	}
	return false
}
