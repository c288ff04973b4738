package sandbox

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	seccompprofile "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/sandbox/internal/stepinit"
)

// seccompVM runs a compiled filter on synthetic seccomp_data, with
// golang.org/x/net/bpf's interpreter.
type seccompVM struct {
	t  *testing.T
	vm *bpf.VM
}

func newSeccompVM(t *testing.T, caps []string) *seccompVM {
	t.Helper()
	f, err := seccompFilter(caps)
	if err != nil {
		t.Fatal(err)
	}
	insns := make([]bpf.Instruction, len(f))
	for i, r := range f {
		insns[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}.Disassemble()
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	return &seccompVM{t: t, vm: vm}
}

// run returns the filter's verdict for syscall nr of audit arch a.
func (v *seccompVM) run(a arch.AuditArch, nr uint32, args ...uint64) uint32 {
	v.t.Helper()
	data := make([]byte, 64)
	// The kernel loads 32-bit words of seccomp_data in host order (an
	// argument's low word first on amd64), the VM as big-endian words.
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], uint32(a))
	for i, x := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(x))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(x>>32))
	}
	ret, err := v.vm.Run(data)
	if err != nil {
		v.t.Fatal(err)
	}
	return uint32(ret)
}

func nr(t *testing.T, a *arch.Info, name string) uint32 {
	t.Helper()
	n, ok := a.SyscallNames[name]
	if !ok {
		t.Fatalf("no syscall %s on %s", name, a.Name)
	}
	return uint32(n)
}

const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	killed = unix.SECCOMP_RET_KILL_PROCESS
)

func TestSeccompDefaultProfile(t *testing.T) {
	vm := newSeccompVM(t, defaultCapNames())
	x64 := arch.X86_64
	cases := []struct {
		name    string
		syscall string
		args    []uint64
		want    uint32
	}{
		{"getpid", "getpid", nil, allow},
		{"read", "read", nil, allow},
		{"execve", "execve", nil, allow},
		{"setuid", "setuid", nil, allow},
		{"capset", "capset", nil, allow},
		{"keyctl", "keyctl", nil, eperm},
		{"add_key", "add_key", nil, eperm},
		{"request_key", "request_key", nil, eperm},
		{"mount", "mount", nil, eperm},
		{"umount2", "umount2", nil, eperm},
		{"unshare", "unshare", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"kexec_load", "kexec_load", nil, eperm},
		{"open_by_handle_at", "open_by_handle_at", nil, eperm},
		{"bpf", "bpf", nil, eperm},
		{"clone thread", "clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, allow},
		{"clone fork", "clone", []uint64{uint64(unix.SIGCHLD)}, allow},
		{"clone newuser", "clone", []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone newns", "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{"clone newnet high word", "clone", []uint64{1<<32 | unix.CLONE_NEWNET}, eperm},
		{"clone3", "clone3", nil, enosys},
		{"personality query", "personality", []uint64{0xffffffff}, allow},
		{"personality linux", "personality", []uint64{0}, allow},
		{"personality linux32", "personality", []uint64{8}, allow},
		{"personality no randomize", "personality", []uint64{0x0040000}, eperm},
		{"personality high word", "personality", []uint64{1 << 32}, eperm},
		{"socket inet", "socket", []uint64{unix.AF_INET}, allow},
		{"socket unix", "socket", []uint64{unix.AF_UNIX}, allow},
	}
	for _, c := range cases {
		if got := vm.run(x64.ID, nr(t, x64, c.syscall), c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	// A syscall the profile does not name gets the default action; one
	// newer than all it names gets ENOSYS, so that libcs fall back.
	if got := vm.run(x64.ID, nr(t, x64, "acct")); got != eperm {
		t.Errorf("acct: %#x", got)
	}
	if got := vm.run(x64.ID, 5000); got != enosys {
		t.Errorf("syscall 5000: %#x", got)
	}
}

// The i386 and x32 ABIs are filtered too, by their own numbers, as Docker
// does on amd64: a step cannot reach keyctl through int $0x80.
func TestSeccompSubArches(t *testing.T) {
	vm := newSeccompVM(t, defaultCapNames())
	i386, x32 := arch.I386, arch.X32
	for _, c := range []struct {
		a       *arch.Info
		syscall string
		args    []uint64
		want    uint32
	}{
		{i386, "getpid", nil, allow},
		{i386, "keyctl", nil, eperm},
		{i386, "mount", nil, eperm},
		{i386, "clone", []uint64{unix.CLONE_NEWUSER}, eperm},
		{i386, "clone", []uint64{uint64(unix.SIGCHLD)}, allow},
		// 32-bit ABI: only the low word of an argument counts.
		{i386, "personality", []uint64{1 << 32}, allow},
		{x32, "getpid", nil, allow},
		{x32, "keyctl", nil, eperm},
	} {
		n := nr(t, c.a, c.syscall)
		if c.a == x32 {
			n |= x32Bit
		}
		if got := vm.run(c.a.ID, n, c.args...); got != c.want {
			t.Errorf("%s %s %v: %#x, want %#x", c.a.Name, c.syscall, c.args, got, c.want)
		}
	}
	// An ABI the filter does not list ends the process.
	if got := vm.run(arch.AARCH64.ID, nr(t, arch.AARCH64, "getpid")); got != killed {
		t.Errorf("aarch64 getpid on an amd64 filter: %#x", got)
	}
}

// The profile depends on the capabilities: with CAP_SYS_ADMIN, mount and
// namespaces are the kernel's business, as under docker run --cap-add.
func TestSeccompCapabilityConditions(t *testing.T) {
	vm := newSeccompVM(t, append(defaultCapNames(), "CAP_SYS_ADMIN"))
	x64 := arch.X86_64
	for _, c := range []struct {
		syscall string
		args    []uint64
	}{
		{"mount", nil},
		{"unshare", []uint64{unix.CLONE_NEWUSER}},
		{"clone", []uint64{unix.CLONE_NEWUSER}},
		{"clone3", nil},
	} {
		if got := vm.run(x64.ID, nr(t, x64, c.syscall), c.args...); got != allow {
			t.Errorf("%s with CAP_SYS_ADMIN: %#x", c.syscall, got)
		}
	}
	// Without CAP_SYS_PTRACE... and with it, ptrace is allowed on this
	// kernel (>= 4.8) either way; process_vm_readv needs the capability.
	if got := vm.run(x64.ID, nr(t, x64, "process_vm_readv")); got != allow {
		t.Errorf("process_vm_readv with the default caps: %#x", got)
	}
}

// The filter is compiled once per process and capability set.
func TestSeccompFilterCached(t *testing.T) {
	a, err := seccompFilter([]string{"CAP_KILL", "CAP_CHOWN"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := seccompFilter([]string{"CAP_CHOWN", "CAP_KILL", "CAP_CHOWN"})
	if err != nil {
		t.Fatal(err)
	}
	if &a[0] != &b[0] {
		t.Error("same capability set compiled twice")
	}
	c, err := seccompFilter([]string{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"})
	if err != nil {
		t.Fatal(err)
	}
	if &a[0] == &c[0] {
		t.Error("different capability sets share a filter")
	}
	t.Logf("filter: %d instructions", len(a))
}

func BenchmarkSeccompCompile(b *testing.B) {
	for b.Loop() {
		if _, err := compileDefaultProfile(defaultCapNames()); err != nil {
			b.Fatal(err)
		}
	}
}

// buildProbe compiles testdata/seccompprobe, static, into root/probe.
func buildProbe(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(root, "probe"), "./testdata/seccompprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
}

// A step runs under Docker's default seccomp profile. Reproduced on the code
// before the profile was wired into the init: the step ran with "Seccomp: 0",
// read a key host root had in its user keyring, added keys (keyctl, add_key
// ok) and made a user namespace (clone newuser ok), where each is EPERM now.
// mount, ptrace of PID 1, kexec_load and open_by_handle_at already failed for
// want of capabilities; the profile now denies them before the kernel looks.
func TestSandboxSeccomp(t *testing.T) {
	root := newRoot(t)
	buildProbe(t, root)
	secret := "bld-secret-" + randomHex(4)
	id, err := unix.AddKey("user", "bld-seccomp-test-"+randomHex(4), []byte(secret), unix.KEY_SPEC_USER_KEYRING)
	if err != nil {
		t.Fatalf("add a key to root's user keyring: %v", err)
	}
	// Every permission for its owner too, not only for a possessor: the
	// cleanup may run on a thread that does not possess the key (another
	// session keyring), and must still remove it (host-global state).
	if err := unix.KeyctlSetperm(id, 0x3f3f0000); err != nil {
		t.Fatalf("setperm on the test key: %v", err)
	}
	t.Cleanup(func() {
		if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err != nil {
			t.Errorf("invalidate test key: %v", err)
		}
	})
	out := mustRun(t, root, Spec{}, "/probe", strconv.Itoa(id))
	if strings.Contains(out, secret) {
		t.Errorf("the step read root's key:\n%s", out)
	}
	for _, want := range []string{
		"threads: ok",
		"seccomp mode: 2",
		"keyctl read: EPERM",
		"keyctl: EPERM",
		"add_key: EPERM",
		"request_key: EPERM",
		"clone newuser: EPERM",
		"mount: EPERM",
		"ptrace attach 1: EPERM",
		"kexec_load: EPERM",
		"open_by_handle_at: EPERM",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("probe output lacks %q:\n%s", want, out)
		}
	}
}

// Everyday work in a step is unaffected: a shell pipeline, files, a fork
// bomb of a few processes, setuid to another user, /dev/urandom.
func TestSandboxSeccompNormalWork(t *testing.T) {
	root := newRoot(t)
	script := `set -e
mkdir -p /tmp/a && echo hi > /tmp/a/f && cat /tmp/a/f | tr a-z A-Z
for i in 1 2 3 4; do (sleep 0.01; echo child$i) & done; wait
head -c 16 /dev/urandom | wc -c
ln -s f /tmp/a/l && readlink /tmp/a/l
chmod 600 /tmp/a/f && chown 1:1 /tmp/a/f && stat -c %u:%g:%a /tmp/a/f
su -s /bin/sh nobody -c 'id -u' 2>/dev/null || echo nosu
grep Seccomp: /proc/self/status`
	out := mustRun(t, root, Spec{}, "sh", "-c", script)
	for _, want := range []string{"HI", "child4", "16", "f\n", "1:1:600", "Seccomp:\t2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// stepinit.ApplySeccomp, for an init that execs the command, filters every thread
// of the process (TSYNC), and the filter survives execve. The test runs
// itself in a child process, which it filters.
func TestApplySeccompAllThreads(t *testing.T) {
	if os.Getenv("BLD_SECCOMP_HELPER") == "1" {
		seccompHelper()
		return
	}
	testutil.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplySeccompAllThreads$")
	cmd.Env = append(os.Environ(), "BLD_SECCOMP_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"thread 0: EPERM", "thread 3: EPERM", "Seccomp:\t2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
}

// seccompHelper filters this process, tries keyctl from fresh threads,
// then execs busybox to show the filter is kept.
func seccompHelper() {
	f, err := seccompFilter(defaultCapNames())
	if err == nil {
		err = stepinit.ApplySeccomp(f)
	}
	if err != nil {
		fmt.Println("apply:", err)
		os.Exit(1)
	}
	for i := range 4 {
		done := make(chan error)
		go func() {
			runtime.LockOSThread() // a thread of its own, thrown away
			_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
			done <- err
		}()
		err := <-done
		if errno, ok := err.(unix.Errno); ok {
			fmt.Printf("thread %d: %s\n", i, unix.ErrnoName(errno))
		} else {
			fmt.Printf("thread %d: %v\n", i, err)
		}
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	err = unix.Exec(busybox, []string{"busybox", "grep", "Seccomp:", "/proc/self/status"}, nil)
	fmt.Println("exec:", err)
	os.Exit(1)
}

// Every syscall of the x86_64, i386 and x32 tables gets from the compiled
// program what a direct reading of the resolved profile gives, for
// arguments around every value the profile's conditions name; with the
// default capabilities and with CAP_SYS_ADMIN and CAP_SYS_PTRACE added.
func TestSeccompMatchesProfile(t *testing.T) {
	for _, caps := range [][]string{defaultCapNames(), append(defaultCapNames(), "CAP_SYS_ADMIN", "CAP_SYS_PTRACE")} {
		checkMatchesProfile(t, caps)
	}
}

func checkMatchesProfile(t *testing.T, caps []string) {
	vm := newSeccompVM(t, caps)
	p, err := seccompprofile.GetDefaultProfile(&specs.Spec{Process: &specs.Process{
		Capabilities: &specs.LinuxCapabilities{Bounding: caps}}})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := seccompRet(p.DefaultAction, p.DefaultErrnoRet)
	// Argument values to try: 0, all ones, and each condition's values
	// and neighbours.
	probes := []uint64{0, ^uint64(0), 1 << 32}
	for _, sc := range p.Syscalls {
		for _, a := range sc.Args {
			for _, v := range []uint64{a.Value, a.ValueTwo} {
				probes = append(probes, v, v+1, v-1, v|1<<32)
			}
		}
	}
	checked := 0
	for _, ab := range []struct {
		info   *arch.Info
		arch   specs.Arch
		bits32 bool
		nrBit  uint32
	}{{arch.X86_64, specs.ArchX86_64, false, 0}, {arch.I386, specs.ArchX86, true, 0}, {arch.X32, specs.ArchX32, true, x32Bit}} {
		// Our tables (TestSyscallTables compares them with
		// go-seccomp-bpf's): its x32 name map picks one of two numbers
		// for 36 names at random.
		numbers := seccompArches()[ab.arch].numbers
		newest := 0 // the highest number the profile names on this ABI
		for _, sc := range p.Syscalls {
			for _, name := range sc.Names {
				if n, ok := numbers[name]; ok {
					newest = max(newest, n)
				}
			}
		}
		for name, num := range numbers {
			for _, x := range probes {
				for idx := range 2 {
					var args [6]uint64
					args[idx] = x
					want, ok := profileVerdict(p, name, args, ab.bits32, def)
					if num > newest {
						want = enosys
					}
					if !ok {
						t.Fatalf("%s: rules with different actions match %v", name, args)
					}
					got := vm.run(ab.info.ID, uint32(num)|ab.nrBit, args[:]...)
					if got != want {
						t.Errorf("%s %s args %#x: %#x, want %#x", ab.info.Name, name, args[:2], got, want)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d verdicts checked", checked)
}

// profileVerdict reads the resolved profile directly: the action of the
// rules of name that match args (ok is false when matching rules
// disagree), else def.
func profileVerdict(p *specs.LinuxSeccomp, name string, args [6]uint64, bits32 bool, def uint32) (uint32, bool) {
	var verdicts []uint32
	for _, sc := range p.Syscalls {
		if !slices.Contains(sc.Names, name) {
			continue
		}
		ret, _ := seccompRet(sc.Action, sc.ErrnoRet)
		for _, r := range splitArgs(sc.Args, ret) {
			match := true
			for _, c := range r.conds {
				a, v, v2 := args[c.Index], c.Value, c.ValueTwo
				if bits32 {
					a, v, v2 = uint64(uint32(a)), uint64(uint32(v)), uint64(uint32(v2))
				}
				switch c.Op {
				case specs.OpEqualTo:
					match = match && a == v
				case specs.OpNotEqual:
					match = match && a != v
				case specs.OpLessThan:
					match = match && a < v
				case specs.OpLessEqual:
					match = match && a <= v
				case specs.OpGreaterThan:
					match = match && a > v
				case specs.OpGreaterEqual:
					match = match && a >= v
				case specs.OpMaskedEqual:
					match = match && a&v == v2
				}
			}
			if match {
				verdicts = append(verdicts, r.ret)
			}
		}
	}
	if len(verdicts) == 0 {
		return def, true
	}
	for _, v := range verdicts[1:] {
		if v != verdicts[0] {
			return 0, false
		}
	}
	return verdicts[0], true
}

// The syscall tables copied from go-seccomp-bpf (syscalls_table.go) are
// its tables: every number with its name, the same audit arches, and each
// name's number one of its numbers (the x32 one, 512 and up, where x32
// lists a name twice).
func TestSyscallTables(t *testing.T) {
	for _, c := range []struct {
		arch  specs.Arch
		table string
		info  *arch.Info
	}{
		{specs.ArchX86_64, syscallsX86_64, arch.X86_64}, {specs.ArchX32, syscallsX32, arch.X32},
		{specs.ArchX86, syscallsI386, arch.I386}, {specs.ArchAARCH64, syscallsAARCH64, arch.AARCH64},
		{specs.ArchARM, syscallsARM, arch.ARM},
	} {
		sa := seccompArches()[c.arch]
		if sa.audit != uint32(c.info.ID) {
			t.Errorf("%s: audit arch %#x, want %#x", c.arch, sa.audit, uint32(c.info.ID))
		}
		byNumber := map[int]string{}
		byName := map[string][]int{}
		for line := range strings.Lines(c.table) {
			name, num, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			n, err := strconv.Atoi(num)
			if err != nil {
				t.Fatalf("%s: line %q: %v", c.arch, line, err)
			}
			byNumber[n] = name
			byName[name] = append(byName[name], n)
		}
		if !maps.Equal(byNumber, c.info.SyscallNumbers) {
			t.Errorf("%s: %d numbers, go-seccomp-bpf has %d, or they differ", c.arch, len(byNumber), len(c.info.SyscallNumbers))
		}
		for name, nums := range byName {
			if got, want := sa.numbers[name], slices.Max(nums); got != want {
				t.Errorf("%s %s: number %d, want %d (of %v)", c.arch, name, got, want, nums)
			}
			if len(nums) > 1 && (c.arch != specs.ArchX32 || slices.Min(nums) >= 512 || slices.Max(nums) < 512) {
				t.Errorf("%s %s: numbers %v: only x32 lists a name twice, once below 512", c.arch, name, nums)
			}
		}
		if len(sa.numbers) != len(c.info.SyscallNames) {
			t.Errorf("%s: %d names, go-seccomp-bpf has %d", c.arch, len(sa.numbers), len(c.info.SyscallNames))
		}
	}
}
