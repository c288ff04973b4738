package stepinit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DecodeSeccomp is the inverse of sandbox's encodeSeccomp.
func DecodeSeccomp(b []byte) ([]unix.SockFilter, error) {
	if len(b) == 0 || len(b)%8 != 0 || len(b)/8 > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: bad filter of %d bytes", len(b))
	}
	f := make([]unix.SockFilter, len(b)/8)
	for i := range f {
		r := b[8*i:]
		f[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return f, nil
}

// ApplySeccomp loads filter for every thread of the calling process
// (SECCOMP_FILTER_FLAG_TSYNC), for the exec that follows: call it last
// before execve, after mounts and before dropping CAP_SYS_ADMIN (setuid,
// capset), since without no_new_privs, which Docker does not set, loading
// a filter needs CAP_SYS_ADMIN. The profile allows setuid, setgroups,
// capset and execve.
func ApplySeccomp(filter []unix.SockFilter) error {
	return loadSeccomp(filter, unix.SECCOMP_FILTER_FLAG_TSYNC)
}

func loadSeccomp(filter []unix.SockFilter, flags uintptr) error {
	if len(filter) == 0 {
		return errors.New("seccomp: empty filter")
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return os.NewSyscallError("seccomp", errno)
	}
	return nil
}
