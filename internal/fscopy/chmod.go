package fscopy

import (
	"fmt"
	"io/fs"
	"strconv"

	mode "github.com/tonistiigi/dchapes-mode"
)

// Chmod is a parsed --chmod: an octal mode that every entry gets, or a
// chmod(1) symbolic mode ("u+x,g-w", "a=r", "go-rwx", "a+X") applied to
// each entry's own mode, as BuildKit does since Dockerfile 1.14. X adds
// execute only to directories and to files already executable by someone.
// The symbolic modes are parsed and applied by tonistiigi/dchapes-mode,
// the library BuildKit uses, with a umask of 0 ("+x" is "a+x"), so the
// result does not depend on the umask of the machine that builds.
type Chmod struct {
	octal    uint32    // 07777 form, when symbolic is nil
	symbolic *mode.Set // nil for an octal mode
}

// OctalChmod is the Chmod of an octal mode (07777 form: 0o4755 is setuid).
func OctalChmod(m uint32) *Chmod { return &Chmod{octal: m & 0o7777} }

// ParseChmod parses a --chmod value: an octal mode from 0 to 7777 (755,
// 0644, 4755 for setuid) or a symbolic mode.
func ParseChmod(s string) (Chmod, error) {
	if n, err := strconv.ParseUint(s, 8, 32); err == nil {
		if n > 0o7777 {
			return Chmod{}, fmt.Errorf("invalid chmod %q: want an octal mode from 0 to 7777 or a symbolic mode", s)
		}
		return Chmod{octal: uint32(n)}, nil
	}
	if s == "" || s[0] >= '0' && s[0] <= '9' || s[0] == '-' {
		return Chmod{}, fmt.Errorf("invalid chmod %q: want an octal mode from 0 to 7777 or a symbolic mode", s)
	}
	set, err := mode.ParseWithUmask(s, 0)
	if err != nil {
		return Chmod{}, fmt.Errorf("invalid chmod %q: want an octal mode from 0 to 7777 or a symbolic mode (u+x,go-w)", s)
	}
	return Chmod{symbolic: &set}, nil
}

// Symbolic reports whether c is a symbolic mode.
func (c Chmod) Symbolic() bool { return c.symbolic != nil }

// Apply returns the mode (07777 form) an entry gets whose mode would
// otherwise be perm (07777 form); dir says it is a directory (for X).
func (c Chmod) Apply(perm uint32, dir bool) uint32 {
	if c.symbolic == nil {
		return c.octal
	}
	m := modeFromUnix(perm)
	if dir {
		m |= fs.ModeDir
	}
	return unixMode(c.symbolic.Apply(m))
}
