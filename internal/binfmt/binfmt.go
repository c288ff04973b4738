// Package binfmt owns bld's view of the kernel's binfmt_misc: whether a
// platform's binaries run on this host, natively or through a registered
// emulator (QEMU user mode), and the registration of Debian's
// qemu-user-static interpreters for `bld binfmt --install`.
//
// An emulated RUN step needs a handler with the F (fix-binary) flag: the
// kernel opens the interpreter when it is registered, so it works inside
// the sandbox's root, where /usr/bin/qemu-*-static does not exist. Check
// says so when a handler lacks it.
//
// Handlers are found by what they match, not by name: Check builds the ELF
// header of a binary of the platform and asks each enabled handler whether
// its magic and mask match it, as the kernel does. bld registers its own
// handlers as "bld-qemu-ARCH" (from Debian's /usr/lib/binfmt.d files, the
// name changed and the F flag ensured); Uninstall removes only those.
//
// Key functions: Native, Check, Status, Install, Uninstall. No library
// does this (containerd's and BuildKit's binfmt code lives in a separate
// installer image), so it is written here.
package binfmt

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Dir is where binfmt_misc is mounted.
var Dir = "/proc/sys/fs/binfmt_misc"

// confDirs hold Debian's handler definitions (qemu-user-static).
var confDirs = []string{"/usr/lib/binfmt.d", "/etc/binfmt.d"}

// prefix names the handlers bld registers.
const prefix = "bld-"

// arch is how one OCI architecture appears to QEMU and in an ELF header.
type arch struct {
	qemu    string // QEMU's name: qemu-<qemu>-static, /usr/lib/binfmt.d/qemu-<qemu>.conf
	class   byte   // ELFCLASS32 (1) or ELFCLASS64 (2)
	big     bool   // big-endian
	machine uint16 // e_machine
}

// arches maps OCI architectures (containerd's names) to their ELF form.
var arches = map[string]arch{
	"amd64":    {"x86_64", 2, false, 0x3e},
	"386":      {"i386", 1, false, 0x03},
	"arm64":    {"aarch64", 2, false, 0xb7},
	"arm":      {"arm", 1, false, 0x28},
	"riscv64":  {"riscv64", 2, false, 0xf3},
	"ppc64le":  {"ppc64le", 2, false, 0x15},
	"s390x":    {"s390x", 2, true, 0x16},
	"mips64le": {"mips64el", 2, false, 0x08},
	"loong64":  {"loongarch64", 2, false, 0x102},
}

// Arches lists the architectures Install knows, sorted.
func Arches() []string {
	var out []string
	for a := range arches {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// elfHeader is the first 20 bytes of an executable of a: what handlers
// match against.
func (a arch) elfHeader() []byte {
	h := []byte{0x7f, 'E', 'L', 'F', a.class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if a.big {
		h[5] = 2
		h[16], h[17] = 0, 2 // ET_EXEC
		h[18], h[19] = byte(a.machine>>8), byte(a.machine)
	} else {
		h[16], h[17] = 2, 0
		h[18], h[19] = byte(a.machine), byte(a.machine>>8)
	}
	return h
}

// Native reports whether the host runs p's binaries without emulation:
// its own architecture, and 386 on amd64 when the kernel runs 32-bit
// programs (IA32 emulation, which a kernel may lack or disable with
// ia32_emulation=false): that is probed once, by running one.
func Native(p v1.Platform) bool {
	if p.OS != "" && p.OS != "linux" {
		return false
	}
	if p.Architecture == runtime.GOARCH {
		return true
	}
	return runtime.GOARCH == "amd64" && p.Architecture == "386" && ia32()
}

// ia32 reports whether a 32-bit x86 program runs here.
var ia32 = sync.OnceValue(func() bool { return runI386() == nil })

// i386Exit42 is the smallest useful i386 ELF executable: one PT_LOAD
// segment whose code is exit(42) through int 0x80.
func i386Exit42() []byte {
	const base, ehsize, phsize = 0x08048000, 52, 32
	code := []byte{0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80} // mov eax,1; mov ebx,42; int 0x80
	size := uint32(ehsize + phsize + len(code))
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2)                  // e_type: ET_EXEC
	b = le.AppendUint16(b, 3)                  // e_machine: EM_386
	b = le.AppendUint32(b, 1)                  // e_version
	b = le.AppendUint32(b, base+ehsize+phsize) // e_entry
	b = le.AppendUint32(b, ehsize)             // e_phoff
	b = le.AppendUint32(b, 0)                  // e_shoff
	b = le.AppendUint32(b, 0)                  // e_flags
	b = le.AppendUint16(b, ehsize)             // e_ehsize
	b = le.AppendUint16(b, phsize)             // e_phentsize
	b = le.AppendUint16(b, 1)                  // e_phnum
	b = le.AppendUint16(b, 0)                  // e_shentsize
	b = le.AppendUint16(b, 0)                  // e_shnum
	b = le.AppendUint16(b, 0)                  // e_shstrndx
	b = le.AppendUint32(b, 1)                  // p_type: PT_LOAD
	b = le.AppendUint32(b, 0)                  // p_offset
	b = le.AppendUint32(b, base)               // p_vaddr
	b = le.AppendUint32(b, base)               // p_paddr
	b = le.AppendUint32(b, size)               // p_filesz
	b = le.AppendUint32(b, size)               // p_memsz
	b = le.AppendUint32(b, 5)                  // p_flags: R+X
	b = le.AppendUint32(b, 0x1000)             // p_align
	return append(b, code...)
}

// runI386 runs i386Exit42 from a memfd (no file left, no noexec mount in
// the way) and checks it exited 42.
func runI386() error {
	fd, err := unix.MemfdCreate("bld-ia32-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "bld-ia32-probe")
	defer f.Close()
	if _, err := f.Write(i386Exit42()); err != nil {
		return err
	}
	err = exec.Command(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)).Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 42 {
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0, want 42")
	}
	return err
}

// Handler is one binfmt_misc entry.
type Handler struct {
	Name        string
	Arch        string // the OCI architecture it runs, "" if none bld knows
	Interpreter string
	Enabled     bool
	FixBinary   bool // the F flag
	Ours        bool // registered by bld (named bld-...)
	offset      int
	magic, mask []byte
}

// matches reports whether h would run a binary that starts with header.
func (h Handler) matches(header []byte) bool {
	if len(h.magic) == 0 || h.offset+len(h.magic) > len(header) {
		return false
	}
	for i, m := range h.magic {
		mask := byte(0xff)
		if i < len(h.mask) {
			mask = h.mask[i]
		}
		if header[h.offset+i]&mask != m&mask {
			return false
		}
	}
	return true
}

// Status lists the registered handlers (none when binfmt_misc is not
// mounted).
func Status() ([]Handler, error) {
	entries, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("binfmt_misc: %w", err)
	}
	var out []Handler
	for _, e := range entries {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		h, err := readHandler(filepath.Join(Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// readHandler parses a binfmt_misc entry file ("enabled", "interpreter
// /usr/bin/x", "flags: OCF", "offset 0", "magic 7f454c46...", "mask ...").
func readHandler(path string) (Handler, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Handler{}, fmt.Errorf("binfmt_misc: %w", err)
	}
	h := Handler{Name: filepath.Base(path)}
	h.Ours = strings.HasPrefix(h.Name, prefix)
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			h.Enabled = true
		case "interpreter":
			h.Interpreter = v
		case "flags:":
			h.FixBinary = strings.Contains(v, "F")
		case "offset":
			fmt.Sscan(v, &h.offset)
		case "magic":
			h.magic, _ = hex.DecodeString(v)
		case "mask":
			h.mask, _ = hex.DecodeString(v)
		}
	}
	for name, a := range arches {
		if a.qemu != "" && h.matches(a.elfHeader()) {
			h.Arch = name
		}
	}
	return h, nil
}

// Check returns nil when p's binaries run here: natively, or through an
// enabled handler with the F flag. Otherwise its one-line error says how to
// get one.
func Check(p v1.Platform) error {
	if Native(p) {
		return nil
	}
	plat := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		plat += "/" + p.Variant
	}
	a, ok := arches[p.Architecture]
	if !ok {
		return fmt.Errorf("%s: bld knows no emulator for this architecture (known: %s)", plat, strings.Join(Arches(), ", "))
	}
	hs, err := Status()
	if err != nil {
		return fmt.Errorf("%s: %w", plat, err)
	}
	header := a.elfHeader()
	var noF *Handler
	for i, h := range hs {
		if !h.Enabled || !h.matches(header) {
			continue
		}
		if h.FixBinary {
			return nil
		}
		noF = &hs[i]
	}
	if noF != nil {
		return fmt.Errorf("%s: the binfmt_misc handler %s (%s) lacks the F flag, so it cannot run inside a RUN step's root; run \"bld binfmt --install %s\"", plat, noF.Name, noF.Interpreter, p.Architecture)
	}
	return fmt.Errorf("%s: no emulator registered in binfmt_misc; run \"bld binfmt --install %s\" (needs Debian's qemu-user-static: apt-get install qemu-user-static)", plat, p.Architecture)
}

// Install registers Debian's qemu-user-static interpreter of each
// architecture with the F flag, as "bld-qemu-ARCH", mounting binfmt_misc
// first if needed. An architecture the host runs natively, or one a
// handler with the F flag serves already, is skipped.
func Install(archs ...string) error {
	if err := mountBinfmt(); err != nil {
		return err
	}
	for _, name := range archs {
		a, ok := arches[name]
		if !ok {
			return fmt.Errorf("binfmt --install %s: unknown architecture (known: %s)", name, strings.Join(Arches(), ", "))
		}
		p := v1.Platform{OS: "linux", Architecture: name}
		if Check(p) == nil {
			continue
		}
		line, err := confLine(a.qemu)
		if err != nil {
			return fmt.Errorf("binfmt --install %s: %w", name, err)
		}
		if err := register(line); err != nil {
			return fmt.Errorf("binfmt --install %s: %w", name, err)
		}
	}
	return nil
}

// confLine reads Debian's definition of qemu's handler for q and returns it
// renamed bld-qemu-q, with the F flag.
func confLine(q string) (string, error) {
	for _, d := range confDirs {
		data, err := os.ReadFile(filepath.Join(d, "qemu-"+q+".conf"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		line := strings.TrimSpace(string(data))
		if line == "" || line[0] != ':' {
			return "", fmt.Errorf("%s/qemu-%s.conf: not a binfmt_misc line", d, q)
		}
		// :name:type:offset:magic:mask:interpreter:flags
		f := strings.Split(line[1:], ":")
		if len(f) != 7 {
			return "", fmt.Errorf("%s/qemu-%s.conf: %d fields, want 7", d, q, len(f))
		}
		if _, err := os.Stat(f[5]); err != nil {
			return "", fmt.Errorf("interpreter %s: %w (apt-get install qemu-user-static)", f[5], err)
		}
		f[0] = prefix + "qemu-" + q
		if !strings.Contains(f[6], "F") {
			f[6] += "F"
		}
		return ":" + strings.Join(f, ":"), nil
	}
	return "", fmt.Errorf("no qemu-%s.conf in %s: install Debian's qemu-user-static (apt-get install qemu-user-static)", q, strings.Join(confDirs, " or "))
}

// register writes one handler line to binfmt_misc.
func register(line string) error {
	f, err := os.OpenFile(filepath.Join(Dir, "register"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write([]byte(line)); err != nil {
		return fmt.Errorf("register %s: %w", strings.SplitN(line[1:], ":", 2)[0], err)
	}
	return nil
}

// Uninstall removes the handlers bld registered for archs, or all of
// bld's when archs is empty. Handlers registered by others stay.
func Uninstall(archs ...string) error {
	hs, err := Status()
	if err != nil {
		return err
	}
	for _, name := range archs {
		if _, ok := arches[name]; !ok {
			return fmt.Errorf("binfmt --uninstall %s: unknown architecture (known: %s)", name, strings.Join(Arches(), ", "))
		}
	}
	for _, h := range hs {
		if !h.Ours || (len(archs) > 0 && !slices.Contains(archs, h.Arch)) {
			continue
		}
		if err := os.WriteFile(filepath.Join(Dir, h.Name), []byte("-1"), 0); err != nil {
			return fmt.Errorf("binfmt --uninstall %s: %w", h.Name, err)
		}
	}
	return nil
}

// Mounted reports whether binfmt_misc is mounted at Dir.
func Mounted() bool {
	_, err := os.Stat(filepath.Join(Dir, "register"))
	return err == nil
}

// mountBinfmt mounts binfmt_misc at Dir when it is not.
func mountBinfmt() error {
	if Mounted() {
		return nil
	}
	if err := unix.Mount("binfmt_misc", Dir, "binfmt_misc", 0, ""); err != nil {
		return fmt.Errorf("mount binfmt_misc on %s: %w", Dir, err)
	}
	return nil
}
