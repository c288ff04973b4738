package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

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
