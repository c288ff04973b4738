package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The embedded init is started from a sealed memfd (sealedExecutable):
// it runs through /proc/self/fd/N with exec.Cmd's ExtraFiles taking the
// low descriptors, nothing can change its contents (not through the
// descriptor, not by reopening it for writing), and no child inherits it.
func TestSealedExecutable(t *testing.T) {
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	f, err := sealedExecutable("test-init", prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Fd() < minInitFD {
		t.Errorf("fd %d; want at least %d", f.Fd(), minInitFD)
	}
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())

	var extra []*os.File
	for range 4 {
		n, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		extra = append(extra, n)
	}
	cmd := &exec.Cmd{Path: path, Args: []string{"true"}, ExtraFiles: extra}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("exec %s: %v\n%s", path, err, out)
	}

	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("wrote to the sealed init through its descriptor")
	}
	rw, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		defer rw.Close()
		if _, err := rw.WriteAt([]byte("\x7fELF-changed"), 0); !errors.Is(err, unix.EPERM) {
			t.Errorf("write through a reopening: %v; want EPERM (sealed)", err)
		}
		if err := rw.Truncate(0); !errors.Is(err, unix.EPERM) {
			t.Errorf("truncate through a reopening: %v; want EPERM (sealed)", err)
		}
	}
	if flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("F_GETFD: %#x, %v; want FD_CLOEXEC", flags, err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(prog) {
		t.Errorf("the sealed init reads back as %d bytes (%v); want the %d written", len(got), err, len(prog))
	}
}

// copyMapped copies bytes that are mapped from the running executable (as
// the embedded init is) from the executable file itself, and refuses bytes
// that are not (the heap), leaving the destination empty for the caller.
func TestCopyMapped(t *testing.T) {
	// Code is mapped from the executable like read-only data is.
	code := unsafe.Slice((*byte)(unsafe.Pointer(reflect.ValueOf(TestCopyMapped).Pointer())), 64<<10)
	heap := bytes.Repeat([]byte("bld"), 64<<10)
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"executable", code, true},
		{"heap", heap, false},
	} {
		fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), "memfd")
		ok := copyMapped(f, tc.data)
		got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ok != tc.ok:
			t.Errorf("%s: copyMapped = %v, want %v", tc.name, ok, tc.ok)
		case ok && !bytes.Equal(got, tc.data):
			t.Errorf("%s: copied %d bytes that differ from the %d mapped", tc.name, len(got), len(tc.data))
		case !ok && len(got) != 0:
			t.Errorf("%s: refused, but left %d bytes behind", tc.name, len(got))
		}
	}
}

// A step whose embedded init the kernel will not execute (here: a file
// without execute permission, as a security module refusing to run a
// memfd would answer) runs with bld itself as its init, and so do the
// steps after it; InitProgram says why.
func TestInitFallback(t *testing.T) {
	root := newRoot(t)
	initPath()
	noexec := filepath.Join(t.TempDir(), "bld-init")
	if err := os.WriteFile(noexec, []byte("\x7fELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	initExe.mu.Lock()
	saved, savedErr := initExe.path, initExe.err
	initExe.path = noexec
	initExe.mu.Unlock()
	t.Cleanup(func() {
		initExe.mu.Lock()
		initExe.path, initExe.err = saved, savedErr
		initExe.mu.Unlock()
	})
	for i := range 2 {
		if out := mustRun(t, root, Spec{Network: "none"}, "echo", "ran"); out != "ran\n" {
			t.Errorf("step %d: output %q, want ran", i, out)
		}
		if p := initPath(); p != selfExe {
			t.Errorf("step %d: the init is started from %s, want bld itself", i, p)
		}
	}
	if got := InitProgram(); !strings.Contains(got, "cannot be started") || !strings.Contains(got, "permission denied") {
		t.Errorf("InitProgram() = %q, want why the embedded init is not used", got)
	}
}

// Before any step, InitProgram tells the embedded init from bld itself
// without making the init's memfd (bld version pays no copy of it), and
// leaves nothing open.
func TestInitProgramMakesNoInit(t *testing.T) {
	initExe.mu.Lock()
	savedMade := initExe.made
	initExe.made = false
	initExe.mu.Unlock()
	savedBinary := initBinary
	t.Cleanup(func() {
		initBinary = savedBinary
		initExe.mu.Lock()
		initExe.made = savedMade
		initExe.mu.Unlock()
	})
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	for _, tc := range []struct {
		binary []byte
		want   string
	}{
		{nil, "bld itself (this bld was built without bld-init"},
		{[]byte("\x7fELF"), "bld-init, embedded"},
	} {
		initBinary = tc.binary
		before := fds()
		if got := InitProgram(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("InitProgram() = %q, want %q…", got, tc.want)
		}
		if n := fds(); n != before {
			t.Errorf("InitProgram left %d descriptors open", n-before)
		}
		initExe.mu.Lock()
		made := initExe.made
		initExe.mu.Unlock()
		if made {
			t.Error("InitProgram made the init")
		}
	}
}

// TestWarm: Warm makes the default seccomp filter (and the init program)
// in the background, once per process, so that the first step finds them
// made.
func TestWarm(t *testing.T) {
	// As in a new bld process: nothing warmed, no filter compiled. (The
	// cache only saves recompiling; emptying it costs the next step that.)
	warm.once, warm.done = sync.Once{}, sync.WaitGroup{}
	caps := defaultCapNames()
	slices.Sort(caps)
	key := strings.Join(slices.Compact(caps), ",")
	cached := func() bool {
		seccompCache.Lock()
		defer seccompCache.Unlock()
		_, ok := seccompCache.filters[key]
		return ok
	}
	seccompCache.Lock()
	seccompCache.filters = nil
	seccompCache.Unlock()

	Warm()
	Warm() // once per process: no second goroutine
	warm.done.Wait()
	if !cached() {
		t.Error("after Warm, the default seccomp filter is not compiled")
	}
	initExe.mu.Lock()
	made := initExe.made
	initExe.mu.Unlock()
	if !made {
		t.Error("after Warm, the init program is not made")
	}
	want, err := stepSeccomp()
	if err != nil {
		t.Fatal(err)
	}
	seccompCache.Lock()
	seccompCache.filters = nil
	seccompCache.Unlock()
	if got, err := stepSeccomp(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the warmed filter differs from one compiled afresh (%v)", err)
	}
}
