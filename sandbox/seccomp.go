package sandbox

// Seccomp: Docker's default profile, compiled to a classic BPF program.
//
// The profile comes as data from github.com/moby/profiles/seccomp, resolved
// there for the step's capabilities, the host's architecture and kernel
// (GetDefaultProfile); the syscall numbers come from the tables of
// github.com/elastic/go-seccomp-bpf/arch, copied (syscalls_table.go). The compiler from rules to BPF is
// ours, over golang.org/x/net/bpf: go-seccomp-bpf's own compiler filters one
// architecture only (Docker's amd64 filter also covers the x86 and x32 ABIs,
// which FROM --platform=linux/386 images use) and its actions carry no errno
// (the profile answers clone3 with ENOSYS so that libcs fall back to clone);
// libseccomp would need cgo in a binary that is otherwise static.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	seccompprofile "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/sandbox/internal/stepinit"
)

// seccompData offsets: struct seccomp_data { int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]; }.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks the syscall numbers of the x32 ABI, which share x86_64's
// audit arch.
const x32Bit = 0x40000000

// retBadArch answers a syscall made through an ABI the filter does not
// list, as libseccomp's default bad-arch action does (but for the whole
// process: a half-killed multithreaded process helps nobody).
const retBadArch = unix.SECCOMP_RET_KILL_PROCESS

// retNewer answers a syscall numbered above every syscall of the profile.
const retNewer = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// seccompArch is one ABI the filter covers.
type seccompArch struct {
	audit   uint32         // AUDIT_ARCH_*
	nrBit   uint32         // bit set in every syscall number (x32), or 0
	bits32  bool           // arguments are 32-bit: compare the low words only
	numbers map[string]int // syscall name → number, without nrBit
}

// seccompArches maps the profile's architectures to syscall tables; an
// architecture without a table here cannot be filtered. The tables
// (syscalls_table.go) are parsed on first use, not by a package-level map:
// Go would build that in every process started from the binary, each
// step's init included (as github.com/elastic/go-seccomp-bpf/arch, whose
// tables these are, did: the costliest package initialiser a step's init
// paid for).
var seccompArches = sync.OnceValue(func() map[specs.Arch]seccompArch {
	return map[specs.Arch]seccompArch{
		specs.ArchX86_64:  {audit: unix.AUDIT_ARCH_X86_64, numbers: syscallNumbers(syscallsX86_64)},
		specs.ArchX32:     {audit: unix.AUDIT_ARCH_X86_64, nrBit: x32Bit, bits32: true, numbers: syscallNumbers(syscallsX32)},
		specs.ArchX86:     {audit: unix.AUDIT_ARCH_I386, bits32: true, numbers: syscallNumbers(syscallsI386)},
		specs.ArchAARCH64: {audit: unix.AUDIT_ARCH_AARCH64, numbers: syscallNumbers(syscallsAARCH64)},
		specs.ArchARM:     {audit: unix.AUDIT_ARCH_ARM, bits32: true, numbers: syscallNumbers(syscallsARM)},
	}
})

// syscallNumbers parses a table of syscalls_table.go, "name number" a
// line. A name listed twice gets the higher number: x32's table lists 36
// syscalls (execve, ioctl, readv, ...) under both x86_64's number, which
// the x32 ABI does not use for them, and their x32 one (512 and up), which
// x32 programs call. (go-seccomp-bpf's name map picked one of the two at
// random, per process.)
func syscallNumbers(table string) map[string]int {
	m := map[string]int{}
	for line := range strings.Lines(table) {
		name, num, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			panic(fmt.Sprintf("syscall table line %q: %v", line, err)) // generated data
		}
		if old, ok := m[name]; !ok || n > old {
			m[name] = n
		}
	}
	return m
}

// capNames are the capability names the profile's conditions use.
var capNames = map[uintptr]string{
	unix.CAP_CHOWN: "CAP_CHOWN", unix.CAP_DAC_OVERRIDE: "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH: "CAP_DAC_READ_SEARCH", unix.CAP_FOWNER: "CAP_FOWNER",
	unix.CAP_FSETID: "CAP_FSETID", unix.CAP_KILL: "CAP_KILL", unix.CAP_SETGID: "CAP_SETGID",
	unix.CAP_SETUID: "CAP_SETUID", unix.CAP_SETPCAP: "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE: "CAP_LINUX_IMMUTABLE", unix.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST: "CAP_NET_BROADCAST", unix.CAP_NET_ADMIN: "CAP_NET_ADMIN",
	unix.CAP_NET_RAW: "CAP_NET_RAW", unix.CAP_IPC_LOCK: "CAP_IPC_LOCK", unix.CAP_IPC_OWNER: "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE: "CAP_SYS_MODULE", unix.CAP_SYS_RAWIO: "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT: "CAP_SYS_CHROOT", unix.CAP_SYS_PTRACE: "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT: "CAP_SYS_PACCT", unix.CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT: "CAP_SYS_BOOT", unix.CAP_SYS_NICE: "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE: "CAP_SYS_RESOURCE", unix.CAP_SYS_TIME: "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG: "CAP_SYS_TTY_CONFIG", unix.CAP_MKNOD: "CAP_MKNOD",
	unix.CAP_LEASE: "CAP_LEASE", unix.CAP_AUDIT_WRITE: "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL: "CAP_AUDIT_CONTROL", unix.CAP_SETFCAP: "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE: "CAP_MAC_OVERRIDE", unix.CAP_MAC_ADMIN: "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG: "CAP_SYSLOG", unix.CAP_WAKE_ALARM: "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND: "CAP_BLOCK_SUSPEND", unix.CAP_AUDIT_READ: "CAP_AUDIT_READ",
	unix.CAP_PERFMON: "CAP_PERFMON", unix.CAP_BPF: "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// defaultCapNames returns the names of stepinit.DefaultCaps, the step's capabilities.
func defaultCapNames() []string {
	names := make([]string, 0, len(stepinit.DefaultCaps))
	for _, c := range stepinit.DefaultCaps {
		names = append(names, capNames[c])
	}
	return names
}

// seccompCache holds one compiled filter per capability set: the profile
// is resolved and compiled once per process, not per step.
var seccompCache struct {
	sync.Mutex
	filters map[string][]unix.SockFilter
}

// seccompFilter returns Docker's default seccomp profile for a process
// holding caps (names such as "CAP_SYS_ADMIN") on this host, as a BPF
// program for applySeccomp. The result is cached per set of caps and
// shared: callers must not modify it.
func seccompFilter(caps []string) ([]unix.SockFilter, error) {
	caps = slices.Clone(caps)
	slices.Sort(caps)
	caps = slices.Compact(caps)
	key := strings.Join(caps, ",")
	seccompCache.Lock()
	defer seccompCache.Unlock()
	if f, ok := seccompCache.filters[key]; ok {
		return f, nil
	}
	prog, err := compileDefaultProfile(caps)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if seccompCache.filters == nil {
		seccompCache.filters = map[string][]unix.SockFilter{}
	}
	seccompCache.filters[key] = prog
	return prog, nil
}

// compileDefaultProfile resolves Docker's default profile for caps and
// compiles it.
func compileDefaultProfile(caps []string) ([]unix.SockFilter, error) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}}}
	profile, err := seccompprofile.GetDefaultProfile(spec)
	if err != nil {
		return nil, fmt.Errorf("resolve default profile: %w", err)
	}
	insns, err := compileSeccomp(profile)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if len(raw) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("program has %d instructions, more than the kernel's %d", len(raw), unix.BPF_MAXINSNS)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// stepSeccomp returns the filter of a step, with the default
// capabilities, encoded for the init's config (encodeSeccomp). Run calls
// it so the profile is compiled once per bld process, not once per init.
func stepSeccomp() ([]byte, error) {
	f, err := seccompFilter(defaultCapNames())
	if err != nil {
		return nil, err
	}
	return encodeSeccomp(f), nil
}

// encodeSeccomp encodes a filter as bytes, 8 per instruction, as the
// kernel lays struct sock_filter out.
func encodeSeccomp(f []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(f))
	for _, i := range f {
		b = binary.NativeEndian.AppendUint16(b, i.Code)
		b = append(b, i.Jt, i.Jf)
		b = binary.NativeEndian.AppendUint32(b, i.K)
	}
	return b
}

// seccompRule is one alternative for a syscall: all conds must hold.
type seccompRule struct {
	conds []specs.LinuxSeccompArg
	ret   uint32
}

// compileSeccomp compiles a resolved profile. The program checks the
// architecture, then finds the syscall by binary search over its number
// and returns the action of the first rule of that syscall whose argument
// conditions hold, else the default action. Rules with conditions are
// tried before unconditional ones.
func compileSeccomp(p *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, errors.New("big-endian hosts not supported")
	}
	defRet, err := seccompRet(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	var arches []seccompArch
	for _, a := range p.Architectures {
		sa, ok := seccompArches()[a]
		if !ok {
			return nil, fmt.Errorf("no syscall table for architecture %s", a)
		}
		arches = append(arches, sa)
	}
	if len(arches) == 0 {
		return nil, errors.New("profile lists no architecture for this host")
	}

	a := &bpfAsm{}
	// The shared returns each rule jumps to.
	rets := map[uint32]label{}
	retLabel := func(v uint32) label {
		l, ok := rets[v]
		if !ok {
			l = a.newLabel()
			rets[v] = l
		}
		return l
	}
	defLabel := retLabel(defRet)
	badArch := retLabel(retBadArch)

	// Architecture dispatch; x32 shares x86_64's audit arch, told apart by
	// the syscall number.
	a.emit(bpf.LoadAbsolute{Off: offArch, Size: 4})
	byAudit := map[uint32][]seccompArch{}
	var audits []uint32
	for _, sa := range arches {
		if _, ok := byAudit[sa.audit]; !ok {
			audits = append(audits, sa.audit)
		}
		byAudit[sa.audit] = append(byAudit[sa.audit], sa)
	}
	archLabels := map[uint32]label{}
	for _, id := range audits {
		archLabels[id] = a.newLabel()
		a.jumpIf(bpf.JumpEqual, id, archLabels[id])
	}
	a.jump(badArch)

	for _, id := range audits {
		a.set(archLabels[id])
		a.emit(bpf.LoadAbsolute{Off: offNr, Size: 4})
		var plain, x32 *seccompArch
		for i := range byAudit[id] {
			if sa := &byAudit[id][i]; sa.nrBit != 0 {
				x32 = sa
			} else {
				plain = sa
			}
		}
		if id == unix.AUDIT_ARCH_X86_64 {
			// Numbers with the x32 bit are x32 calls: a filter without x32
			// must not let them through as x86_64 calls.
			x32Label := badArch
			if x32 != nil {
				x32Label = a.newLabel()
			}
			a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, x32Label)
			if plain != nil {
				if err := compileArch(a, p, *plain, defRet, defLabel, retLabel); err != nil {
					return nil, err
				}
			} else {
				a.jump(badArch)
			}
			if x32 != nil {
				a.set(x32Label)
				if err := compileArch(a, p, *x32, defRet, defLabel, retLabel); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := compileArch(a, p, *plain, defRet, defLabel, retLabel); err != nil {
			return nil, err
		}
	}

	// The returns, in a stable order.
	vals := make([]uint32, 0, len(rets))
	for v := range rets {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for _, v := range vals {
		a.set(rets[v])
		a.emit(bpf.RetConstant{Val: v})
	}
	return a.resolve()
}

// compileArch emits the syscall search of one ABI; the syscall number is
// in the accumulator.
func compileArch(a *bpfAsm, p *specs.LinuxSeccomp, sa seccompArch, defRet uint32, defLabel label, retLabel func(uint32) label) error {
	rules := map[uint32][]seccompRule{}
	for _, sc := range p.Syscalls {
		ret, err := seccompRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			return err
		}
		for _, name := range sc.Names {
			nr, ok := sa.numbers[name]
			if !ok {
				continue // not a syscall of this ABI, as libseccomp ignores it
			}
			n := uint32(nr) | sa.nrBit
			rules[n] = append(rules[n], splitArgs(sc.Args, ret)...)
		}
	}
	nums := make([]uint32, 0, len(rules))
	targets := map[uint32]searchTarget{}
	for n, rs := range rules {
		nums = append(nums, n)
		// Conditional rules first, in profile order.
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].conds) > len(rs[j].conds) })
		rules[n] = rs
		if len(rs[0].conds) == 0 {
			targets[n] = searchTarget{isRet: true, ret: rs[0].ret}
		} else {
			targets[n] = searchTarget{body: a.newLabel()}
		}
	}
	slices.Sort(nums)
	if len(nums) > 0 && defRet != unix.SECCOMP_RET_ALLOW {
		// As runc does: a syscall newer than any the profile names gets
		// ENOSYS, not the default EPERM, so that a libc falls back to the
		// older call it replaces.
		a.jumpIf(bpf.JumpGreaterThan, nums[len(nums)-1], retLabel(retNewer))
	}
	searchSyscalls(a, nums, targets, defRet)

	for _, n := range nums {
		rs := rules[n]
		if len(rs[0].conds) == 0 {
			continue
		}
		a.set(targets[n].body)
		for _, r := range rs {
			if len(r.conds) == 0 {
				a.jump(retLabel(r.ret))
				break
			}
			next := a.newLabel()
			for _, c := range r.conds {
				if err := a.argCond(c, sa.bits32, next); err != nil {
					return err
				}
			}
			a.jump(retLabel(r.ret))
			a.set(next)
		}
		a.jump(defLabel)
	}
	return nil
}

// searchSyscalls emits a binary search of nums for the number in the
// accumulator, jumping to its target, or returning def when absent. A
// leaf has its own copies of the returns it uses, so that its jumps are
// short.
func searchSyscalls(a *bpfAsm, nums []uint32, targets map[uint32]searchTarget, def uint32) {
	const leaf = 8
	if len(nums) <= leaf {
		local := map[uint32]label{}
		var order []uint32
		for _, n := range nums {
			t := targets[n]
			if !t.isRet {
				a.jumpIf(bpf.JumpEqual, n, t.body)
				continue
			}
			l, ok := local[t.ret]
			if !ok {
				l = a.newLabel()
				local[t.ret] = l
				order = append(order, t.ret)
			}
			a.jumpIf(bpf.JumpEqual, n, l)
		}
		a.emit(bpf.RetConstant{Val: def})
		for _, v := range order {
			a.set(local[v])
			a.emit(bpf.RetConstant{Val: v})
		}
		return
	}
	mid := len(nums) / 2
	upper := a.newLabel()
	a.jumpIf(bpf.JumpGreaterOrEqual, nums[mid], upper)
	searchSyscalls(a, nums[:mid], targets, def)
	a.set(upper)
	searchSyscalls(a, nums[mid:], targets, def)
}

// searchTarget is where the search goes for a syscall: a return, or the
// checks of its rules' conditions.
type searchTarget struct {
	isRet bool
	ret   uint32
	body  label
}

// splitArgs turns a profile entry's argument list into rules. As in runc,
// the conditions of an entry must all hold, except that several conditions
// on one argument are alternatives, each a rule of its own.
func splitArgs(args []specs.LinuxSeccompArg, ret uint32) []seccompRule {
	seen := map[uint]bool{}
	repeated := false
	for _, c := range args {
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	if !repeated {
		return []seccompRule{{conds: args, ret: ret}}
	}
	var rs []seccompRule
	for _, c := range args {
		rs = append(rs, seccompRule{conds: []specs.LinuxSeccompArg{c}, ret: ret})
	}
	return rs
}

// seccompRet is the filter's return value for a profile action.
func seccompRet(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data&unix.SECCOMP_RET_DATA, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data&unix.SECCOMP_RET_DATA, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("unsupported action %s", act)
}

// label names a place in the program being assembled.
type label int

// asmItem is an instruction, or a jump to a label: an unconditional
// bpf.Jump reaches anywhere (32-bit offset), a conditional one 255
// instructions; one to a farther label becomes a conditional skip over an
// unconditional jump ("long").
type asmItem struct {
	insn   bpf.Instruction // when not a jump
	jump   bool            // an unconditional jump to target
	cond   bool            // a conditional jump to target when test(val)
	test   bpf.JumpTest
	val    uint32
	target label
	long   bool
}

// bpfAsm assembles a program with symbolic, forward jumps.
type bpfAsm struct {
	items  []asmItem
	labels []int // label → index in items of what follows it, -1 until set
}

func (a *bpfAsm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *bpfAsm) set(l label) { a.labels[l] = len(a.items) }

func (a *bpfAsm) emit(i bpf.Instruction) { a.items = append(a.items, asmItem{insn: i}) }

// jump jumps to l.
func (a *bpfAsm) jump(l label) { a.items = append(a.items, asmItem{jump: true, target: l}) }

// jumpIf jumps to l when the accumulator compares true with val.
func (a *bpfAsm) jumpIf(test bpf.JumpTest, val uint32, l label) {
	a.items = append(a.items, asmItem{cond: true, test: test, val: val, target: l})
}

// resolve lays the program out: conditional jumps are made long until
// every short one reaches its target.
func (a *bpfAsm) resolve() ([]bpf.Instruction, error) {
	for _, at := range a.labels {
		if at < 0 {
			return nil, errors.New("label never set")
		}
	}
	pos := make([]int, len(a.items)+1)
	for {
		for i, it := range a.items {
			pos[i+1] = pos[i] + 1
			if it.long {
				pos[i+1]++
			}
		}
		changed := false
		for i := range a.items {
			it := &a.items[i]
			if it.cond && !it.long && pos[a.labels[it.target]]-pos[i]-1 > 255 {
				it.long, changed = true, true
			}
		}
		if !changed {
			break
		}
	}
	out := make([]bpf.Instruction, 0, pos[len(a.items)])
	for i, it := range a.items {
		dist := pos[a.labels[it.target]] - pos[i] - 1
		switch {
		case it.jump:
			out = append(out, bpf.Jump{Skip: uint32(dist)})
		case it.cond && it.long:
			out = append(out, bpf.JumpIf{Cond: it.test, Val: it.val, SkipTrue: 0, SkipFalse: 1},
				bpf.Jump{Skip: uint32(dist - 1)})
		case it.cond:
			out = append(out, bpf.JumpIf{Cond: it.test, Val: it.val, SkipTrue: uint8(dist)})
		default:
			out = append(out, it.insn)
		}
		if (it.jump || it.cond) && dist < 0 {
			return nil, errors.New("backward jump")
		}
	}
	return out, nil
}

// argCond emits a check of c, jumping to fail when it does not hold. On
// 32-bit ABIs only the low word of an argument counts, as in libseccomp.
func (a *bpfAsm) argCond(c specs.LinuxSeccompArg, bits32 bool, fail label) error {
	if c.Index > 5 {
		return fmt.Errorf("argument index %d out of range", c.Index)
	}
	lo := func() { a.emit(bpf.LoadAbsolute{Off: offArgs + 8*uint32(c.Index), Size: 4}) }
	hi := func() { a.emit(bpf.LoadAbsolute{Off: offArgs + 8*uint32(c.Index) + 4, Size: 4}) }
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	if c.Op == specs.OpMaskedEqual {
		// (arg & Value) == ValueTwo
		dlo, dhi := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)
		if !bits32 {
			hi()
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vhi})
			a.jumpIf(bpf.JumpNotEqual, dhi, fail)
		}
		lo()
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vlo})
		a.jumpIf(bpf.JumpNotEqual, dlo, fail)
		return nil
	}
	// failLo is the test on the low word that makes the condition false.
	var failLo bpf.JumpTest
	switch c.Op {
	case specs.OpEqualTo:
		failLo = bpf.JumpNotEqual
	case specs.OpNotEqual:
		failLo = bpf.JumpEqual
	case specs.OpGreaterThan:
		failLo = bpf.JumpLessOrEqual
	case specs.OpGreaterEqual:
		failLo = bpf.JumpLessThan
	case specs.OpLessThan:
		failLo = bpf.JumpGreaterOrEqual
	case specs.OpLessEqual:
		failLo = bpf.JumpGreaterThan
	default:
		return fmt.Errorf("unsupported operator %s", c.Op)
	}
	if bits32 {
		lo()
		a.jumpIf(failLo, vlo, fail)
		return nil
	}
	pass := a.newLabel()
	hi()
	switch c.Op {
	case specs.OpEqualTo:
		a.jumpIf(bpf.JumpNotEqual, vhi, fail)
	case specs.OpNotEqual:
		a.jumpIf(bpf.JumpNotEqual, vhi, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.jumpIf(bpf.JumpGreaterThan, vhi, pass)
		a.jumpIf(bpf.JumpNotEqual, vhi, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		a.jumpIf(bpf.JumpLessThan, vhi, pass)
		a.jumpIf(bpf.JumpNotEqual, vhi, fail)
	}
	lo()
	a.jumpIf(failLo, vlo, fail)
	a.set(pass)
	return nil
}
