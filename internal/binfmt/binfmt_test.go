package binfmt

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// unescape turns a binfmt.d field ("\x7f\x45...") into bytes.
func unescape(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		if strings.HasPrefix(s, `\x`) && len(s) >= 4 {
			b, err := strconv.ParseUint(s[2:4], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			out = append(out, byte(b))
			s = s[4:]
			continue
		}
		out = append(out, s[0])
		s = s[1:]
	}
	return out
}

// debianHandler reads Debian's qemu-q definition as a Handler.
func debianHandler(t *testing.T, q string) (Handler, bool) {
	data, err := os.ReadFile(filepath.Join("/usr/lib/binfmt.d", "qemu-"+q+".conf"))
	if err != nil {
		return Handler{}, false
	}
	f := strings.Split(strings.TrimSpace(string(data))[1:], ":")
	off, _ := strconv.Atoi(f[2])
	return Handler{Name: f[0], offset: off, magic: unescape(t, f[3]), mask: unescape(t, f[4]), Enabled: true}, true
}

// The ELF header bld makes for each architecture is matched by Debian's
// handler for it and by no other architecture's: Check finds handlers by
// what they match, so a wrong e_machine would send arm64 to qemu-riscv64.
func TestHeadersMatchDebian(t *testing.T) {
	found := 0
	for name, a := range arches {
		h, ok := debianHandler(t, a.qemu)
		if !ok {
			continue // the host's own architecture has no qemu handler
		}
		found++
		if !h.matches(a.elfHeader()) {
			t.Errorf("%s: Debian's %s does not match bld's header % x", name, h.Name, a.elfHeader())
		}
		for other, b := range arches {
			if other != name && h.matches(b.elfHeader()) {
				t.Errorf("Debian's %s matches %s's header too", h.Name, other)
			}
		}
	}
	if found < 5 {
		t.Fatalf("only %d Debian qemu handlers found: is qemu-user-static installed? (make test installs it)", found)
	}
}

// The real arm64 busybox starts with the header bld expects.
func TestRealBinaryHeader(t *testing.T) {
	dir := t.TempDir()
	testutil.ForeignBusyboxRootfs(t, dir, "arm64")
	f, err := os.Open(filepath.Join(dir, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 20)
	if _, err := f.Read(head); err != nil {
		t.Fatal(err)
	}
	h, ok := debianHandler(t, "aarch64")
	if !ok {
		t.Fatal("no /usr/lib/binfmt.d/qemu-aarch64.conf: install qemu-user-static")
	}
	if !h.matches(head) {
		t.Errorf("Debian's handler does not match the real binary's header % x", head)
	}
	if a := arches["arm64"]; !h.matches(a.elfHeader()) {
		t.Errorf("bld's arm64 header % x does not match", a.elfHeader())
	}
}

// TestNative: amd64 runs natively on this amd64 host, arm64 and windows do
// not, and 386 does exactly when a real 32-bit program runs: a Go program
// built for 386 by the test, independently of the hand-made ELF that
// Native execs. (The kernel's configuration is no oracle: this CI's VM
// kernel has CONFIG_IA32_EMULATION=y and yet refuses 32-bit programs with
// "exec format error", as its hypervisor runs no 32-bit user mode.)
func TestNative(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Fatalf("the test expects an amd64 host (CI's), not %s", runtime.GOARCH)
	}
	if !Native(v1.Platform{OS: "linux", Architecture: "amd64"}) {
		t.Error("amd64 runs natively on this amd64 host")
	}
	if Native(v1.Platform{OS: "linux", Architecture: "arm64"}) || Native(v1.Platform{OS: "windows", Architecture: "amd64"}) {
		t.Error("arm64, or windows, cannot run natively here")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"i386\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "i386")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "GOARCH=386", "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build for 386: %v\n%s", err, out)
	}
	runErr := exec.Command(bin).Run()
	want := runErr == nil
	if got := Native(v1.Platform{OS: "linux", Architecture: "386"}); got != want {
		t.Errorf("Native(linux/386) = %v; a Go program built for 386 ran: %v (%v); Native's probe: %v", got, want, runErr, runI386())
	}
}

// TestInstallRunUninstall registers the arm64 emulator (needs root; binfmt_misc
// is host-global, so the test removes its handler, and unmounts binfmt_misc
// if it mounted it, even when it fails), runs an arm64 busybox through it,
// removes it, and checks that Check then names the fix.
func TestInstallRunUninstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (binfmt_misc registration); CI runs as root")
	}
	testutil.LockBinfmt(t) // cmd/bld's tests register handlers too
	mountedBefore := Mounted()
	arm := v1.Platform{OS: "linux", Architecture: "arm64"}
	othersBefore := Check(arm) == nil // a handler someone else registered
	t.Cleanup(func() {
		if err := Uninstall("arm64"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if !mountedBefore && Mounted() {
			if err := unix.Unmount(Dir, 0); err != nil {
				t.Errorf("cleanup: unmount %s: %v", Dir, err)
			}
		}
	})
	dir := t.TempDir()
	testutil.ForeignBusyboxRootfs(t, dir, "arm64")
	if err := Install("arm64"); err != nil {
		t.Fatal(err)
	}
	if err := Check(arm); err != nil {
		t.Fatalf("after Install: %v", err)
	}
	hs, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	ours := false
	for _, h := range hs {
		if h.Ours && h.Arch == "arm64" && h.FixBinary && h.Enabled {
			ours = true
		}
	}
	if !ours && !othersBefore {
		t.Fatalf("no enabled bld-qemu-aarch64 handler with F in %+v", hs)
	}
	out, err := exec.Command(filepath.Join(dir, "bin/busybox"), "uname", "-m").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "aarch64" {
		t.Fatalf("arm64 busybox uname -m = %q, %v; want aarch64", out, err)
	}
	if err := Uninstall("arm64"); err != nil {
		t.Fatal(err)
	}
	err = Check(arm)
	switch {
	case othersBefore && err != nil:
		t.Errorf("Uninstall removed a handler bld did not register: %v", err)
	case !othersBefore && (err == nil || !strings.Contains(err.Error(), `run "bld binfmt --install arm64"`)):
		t.Errorf("after Uninstall, Check = %v; want the error naming bld binfmt --install arm64", err)
	}
	if err := Install("sparc"); err == nil || !strings.Contains(err.Error(), "unknown architecture") {
		t.Errorf("Install(sparc) = %v, want unknown architecture", err)
	}
}

// TestCheckMessages reads a fake binfmt_misc directory (Dir), as the
// kernel lays it out, so every answer of Check is tried without root.
func TestCheckMessages(t *testing.T) {
	handler := func(enabled bool, flags string) string {
		state := "disabled"
		if enabled {
			state = "enabled"
		}
		return state + "\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: " + flags +
			"\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		name     string
		handlers map[string]string // file name -> contents
		p        v1.Platform
		want     string // "" for nil
	}{
		{"native", nil, v1.Platform{OS: "linux", Architecture: "amd64"}, ""},
		{"none", nil, arm64, `linux/arm64: no emulator registered in binfmt_misc; run "bld binfmt --install arm64" (needs Debian's qemu-user-static`},
		{"with F", map[string]string{"qemu-aarch64": handler(true, "POCF")}, arm64, ""},
		{"without F", map[string]string{"qemu-aarch64": handler(true, "OC")}, arm64,
			`linux/arm64: the binfmt_misc handler qemu-aarch64 (/usr/libexec/qemu-binfmt/aarch64-binfmt-P) lacks the F flag, so it cannot run inside a RUN step's root; run "bld binfmt --install arm64"`},
		{"disabled", map[string]string{"bld-qemu-aarch64": handler(false, "F")}, arm64, "no emulator registered"},
		{"another arch's handler", map[string]string{"qemu-aarch64": handler(true, "F")}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
			`linux/arm/v7: no emulator registered in binfmt_misc; run "bld binfmt --install arm"`},
		{"unknown arch", nil, v1.Platform{OS: "linux", Architecture: "sparc64"}, "linux/sparc64: bld knows no emulator for this architecture (known: 386, amd64, arm, arm64,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"register", "status"} {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for name, body := range tc.handlers {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			old := Dir
			Dir = dir
			t.Cleanup(func() { Dir = old })
			err := Check(tc.p)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check(%v) = %v, want nil", tc.p, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check(%v) = %v, want %q", tc.p, err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("Check(%v): not one line: %q", tc.p, err)
			}
			hs, err := Status()
			if err != nil || len(hs) != len(tc.handlers) {
				t.Fatalf("Status() = %+v, %v; want %d handlers", hs, err, len(tc.handlers))
			}
			for _, h := range hs {
				if h.Arch != "arm64" || h.Ours != strings.HasPrefix(h.Name, "bld-") {
					t.Errorf("Status: %+v, want arch arm64, Ours for bld- names", h)
				}
			}
		})
	}
}
