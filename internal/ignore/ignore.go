// Package ignore matches paths against .dockerignore patterns with
// exactly the answers of github.com/moby/patternmatcher as BuildKit uses
// it (MatchesOrParentMatches: the last pattern matching a path or one of
// its parents decides, "!" patterns re-include), in bounded time. The key
// type is Matcher, made by Compile; frontend.Ignore reads the file.
//
// It is hand-written because no library does this in bounded time.
// BuildKit uses github.com/moby/patternmatcher, which compiles every
// pattern to a regexp and runs it against a path and every parent; for
// globs such as **/*a*a*a*b123 that costs tens of microseconds per match,
// so a few hundred patterns over a few thousand files take minutes and
// twenty thousand take hours. The matcher below gives exactly
// patternmatcher's answers in time linear in path length × patterns:
//
//   - each pattern is compiled once, with patternmatcher's rules for its
//     kind (exact, prefix, suffix, glob), a glob to a small instruction
//     list (literal, [^/], [^/]*, .*, (.*/)?, a character class) run as a
//     bit-parallel NFA, so a match costs O(len(path)) word operations
//     (O(len(path) × len(pattern)) past 63 instructions); the rare glob
//     outside that subset (regexp escapes such as \d, POSIX classes, a
//     stray ^ or ], and |{} which patternmatcher fails to escape) keeps
//     the regexp patternmatcher would build;
//   - patterns are indexed by the literal every match ends with, so only
//     those whose literal ends the path or a parent are tried, and each
//     tried glob is first prefiltered on its literal prefix, suffix and
//     longest inner literal with strings.HasPrefix/HasSuffix/Contains;
//   - the candidates are tried from the last to the first and the first
//     that matches the path or a parent decides ("last match wins", which
//     is what patternmatcher's forward loop computes).
//
// A pattern whose regexp would not compile is rejected at load:
// patternmatcher reports it only when the pattern is first used, which
// BuildKit turns into a failed build.
//
// The number of patterns is bounded by the caller (frontend.IgnoreOptions).
package ignore

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Matcher is a compiled list of .dockerignore patterns. It is safe for
// concurrent use.
type Matcher struct {
	compiled   []*ignorePattern
	exceptions bool
	// An index on the literal every match of a pattern ends with (see
	// ignorePattern.key): only patterns whose key ends a path or one of
	// its parents are tried. Indices are ascending.
	byKey   map[string][]int
	keyLens []int // the distinct key lengths
	rest    []int // patterns without a key
}

// Compile compiles patterns as patternmatcher.New does (trimmed, cleaned,
// "!" exceptions, checked with filepath.Match), and also rejects a
// pattern whose regexp would not compile: patternmatcher reports that only
// when the pattern is first used, which BuildKit turns into a failed
// build.
func Compile(patterns []string) (*Matcher, error) {
	ig := &Matcher{}
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
	ig.byKey = map[string][]int{}
	for k, cp := range ig.compiled {
		key := cp.key()
		if key == "" {
			ig.rest = append(ig.rest, k)
			continue
		}
		if _, ok := ig.byKey[key]; !ok && !slices.Contains(ig.keyLens, len(key)) {
			ig.keyLens = append(ig.keyLens, len(key))
		}
		ig.byKey[key] = append(ig.byKey[key], k)
	}
	return ig, nil
}

// key returns a literal every string the pattern matches ends with, or "".
func (p *ignorePattern) key() string {
	switch p.kind {
	case exactMatch:
		return p.text
	case suffixMatch:
		return strings.TrimPrefix(p.text[2:], "/") // "**/a" matches "a" too
	case globMatch:
		if p.re == nil {
			return p.suffix
		}
	}
	return ""
}

// MatchesOrParentMatches reports whether rel (clean, relative,
// slash-separated) is excluded: the last pattern matching it or one of its
// parent directories is not a "!" exception. A nil *Matcher excludes
// nothing.
func (ig *Matcher) MatchesOrParentMatches(rel string) bool {
	if ig == nil || rel == "" {
		return false
	}
	// The patterns that may match rel or a parent, by the index.
	var keyed []int
	for end := len(rel); end > 0; end = strings.LastIndexByte(rel[:end], '/') {
		s := rel[:end]
		for _, n := range ig.keyLens {
			if n <= len(s) {
				keyed = append(keyed, ig.byKey[s[len(s)-n:]]...)
			}
		}
	}
	slices.Sort(keyed)
	// The last pattern that matches decides: walk keyed and rest (both
	// ascending) from their ends, merged.
	a, b, last := len(keyed)-1, len(ig.rest)-1, -1
	for a >= 0 || b >= 0 {
		var k int
		if b < 0 || a >= 0 && keyed[a] > ig.rest[b] {
			k, a = keyed[a], a-1
		} else {
			k, b = ig.rest[b], b-1
		}
		if k == last {
			continue // keyed by more than one parent
		}
		last = k
		if p := ig.compiled[k]; p.matchSelfOrParent(rel) {
			return !p.exclusion
		}
	}
	return false
}

// Exclusions reports whether any pattern is a "!" exception.
func (ig *Matcher) Exclusions() bool {
	return ig != nil && ig.exceptions
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
	infix     string         // globMatch: a literal every match contains
	bits      *bitProg       // globMatch: prog as a bit-parallel NFA, if short
}

// compilePattern follows patternmatcher's Pattern.compile rune by rune:
// it picks the same match kind and, for the glob subset, builds a program;
// outside the subset it builds and compiles the same regexp (so rejects
// what patternmatcher rejects).
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
		case strings.ContainsRune(regexpEscaped, ch):
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
				if strings.ContainsRune(regexpEscaped, c) {
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
			if strings.ContainsRune("^|{}", ch) { // regexp syntax, unescaped
				exotic = true
			}
			prog = append(prog, inst{op: opLit, r: ch})
		}
	}
	cp.kind = kind
	if kind != globMatch {
		return cp, nil
	}
	if exotic {
		// Outside the subset: patternmatcher's own regexp does the work.
		// (Inside it the regexp always compiles: parseClass leaves
		// reversed ranges, its only error, to this branch.)
		re.WriteString("$")
		rx, err := regexp.Compile(re.String())
		if err != nil {
			return nil, err
		}
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
	// The longest run of required literals, anywhere.
	for i := 0; i < len(prog); {
		b.Reset()
		for ; i < len(prog) && prog[i].op == opLit && !prog[i].opt; i++ {
			b.WriteRune(prog[i].r)
		}
		if b.Len() > len(cp.infix) {
			cp.infix = b.String()
		}
		i++
	}
	if len(cp.infix) <= max(len(cp.prefix), len(cp.suffix)) {
		cp.infix = ""
	}
	if len(prog) < 64 {
		cp.bits = compileBits(prog)
	}
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
			if !plain(hi) || hi < lo {
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

// regexpEscaped are the runes patternmatcher escapes in its regexps. It
// means to escape .+()|{}$ too, but its bit set overflows for runes past
// 63, so |, { and } reach the regexp as syntax: "*|" matches any name.
const regexpEscaped = ".+()$"

func isAlnum(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// matchSelfOrParent reports whether the pattern matches rel or one of its
// parent directories.
func (p *ignorePattern) matchSelfOrParent(rel string) bool {
	if p.kind == globMatch && p.re == nil {
		// One NFA pass: its state after a parent is the parent's answer.
		if !strings.HasPrefix(rel, p.prefix) || p.infix != "" && !strings.Contains(rel, p.infix) {
			return false
		}
		if p.suffix != "" && !strings.HasSuffix(rel, p.suffix) && !strings.Contains(rel, p.suffix+"/") {
			return false
		}
		if p.bits != nil {
			return p.bits.run(rel, true)
		}
		return runProg(p.prog, rel, true)
	}
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
	if !strings.HasPrefix(s, p.prefix) || !strings.HasSuffix(s, p.suffix) ||
		p.infix != "" && !strings.Contains(s, p.infix) {
		return false
	}
	if p.bits != nil {
		return p.bits.run(s, false)
	}
	return runProg(p.prog, s, false)
}

// runProg runs a glob program over s as an NFA over bit sets: every
// instruction's successors are later instructions, so one forward pass
// computes the closure. Cost: O(len(s) × len(prog)). With parents, a
// match of a parent directory of s (a prefix before a '/') counts too.
func runProg(prog []inst, s string, parents bool) bool {
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
	for k, r := range s { // invalid bytes read as utf8.RuneError, as regexp does
		if parents && r == '/' && k > 0 && has(cur, n) {
			return true
		}
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

// bitProg is a program of fewer than 64 instructions as a bit-parallel
// NFA (bit i: about to run instruction i; bit len(prog): matched): one
// step per rune costs a few word operations whatever the pattern.
type bitProg struct {
	accept     uint64 // the bit of the end state
	lits       []rune // distinct literal runes ...
	litMasks   []uint64
	one        uint64 // opOne: advance on a rune other than '/'
	star       uint64 // opStar: stay on a rune other than '/'
	anyr       uint64 // opAny: stay on a rune other than '\n'
	eps1       uint64 // opStar, opAny, opSplit: go on to the next without a rune
	split      uint64 // opSplit: also skip 3 ahead (the only skip compilePattern makes)
	classes    []inst
	classMasks []uint64
	// ascii is adv for each ASCII rune, built on the first run: most
	// patterns are never run (the index and prefilters skip them).
	asciiOnce sync.Once
	ascii     *[utf8.RuneSelf]uint64
}

func compileBits(prog []inst) *bitProg {
	bp := &bitProg{accept: 1 << len(prog)}
	for i, in := range prog {
		bit := uint64(1) << i
		switch in.op {
		case opLit:
			k := slices.Index(bp.lits, in.r)
			if k < 0 {
				bp.lits, bp.litMasks = append(bp.lits, in.r), append(bp.litMasks, 0)
				k = len(bp.lits) - 1
			}
			bp.litMasks[k] |= bit
		case opOne:
			bp.one |= bit
		case opClass:
			bp.classes, bp.classMasks = append(bp.classes, in), append(bp.classMasks, bit)
		case opStar:
			bp.star |= bit
			bp.eps1 |= bit
		case opAny:
			bp.anyr |= bit
			bp.eps1 |= bit
		case opSplit:
			if in.skip != 3 {
				return nil
			}
			bp.eps1 |= bit
			bp.split |= bit
		}
	}
	return bp
}

// advance returns the instructions that consume r.
func (bp *bitProg) advance(r rune) uint64 {
	var adv uint64
	for k, l := range bp.lits {
		if l == r {
			adv |= bp.litMasks[k]
		}
	}
	for k := range bp.classes {
		if inRanges(bp.classes[k].ranges, r) != bp.classes[k].neg {
			adv |= bp.classMasks[k]
		}
	}
	if r != '/' {
		adv |= bp.one
	}
	return adv
}

func (bp *bitProg) closure(x uint64) uint64 {
	for {
		y := x | (x&bp.eps1)<<1 | (x&bp.split)<<3
		if y == x {
			return x
		}
		x = y
	}
}

// run is runProg's job (see there for parents), a few word operations a
// rune.
func (bp *bitProg) run(s string, parents bool) bool {
	bp.asciiOnce.Do(func() {
		bp.ascii = new([utf8.RuneSelf]uint64)
		for r := range rune(utf8.RuneSelf) {
			bp.ascii[r] = bp.advance(r)
		}
	})
	cur := bp.closure(1)
	for k, r := range s { // invalid bytes read as utf8.RuneError, as regexp does
		if parents && r == '/' && k > 0 && cur&bp.accept != 0 {
			return true
		}
		var adv, stay uint64
		if r < utf8.RuneSelf {
			adv = bp.ascii[r]
		} else {
			adv = bp.advance(r)
		}
		if r != '/' {
			stay |= bp.star
		}
		if r != '\n' {
			stay |= bp.anyr
		}
		cur = bp.closure((cur&adv)<<1 | cur&stay)
		if cur == 0 {
			return false
		}
	}
	return cur&bp.accept != 0
}
