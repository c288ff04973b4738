package sandbox

import (
	"encoding/binary"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
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
	// A number no syscall has gets the default action.
	if got := vm.run(x64.ID, 5000); got != eperm {
		t.Errorf("unknown syscall: %#x", got)
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
