package stepinit

import (
	"os"

	"golang.org/x/sys/unix"
)

// DefaultCaps is Docker's default capability set: all a RUN step keeps.
var DefaultCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID,
	unix.CAP_SETFCAP, unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE,
	unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE,
}

// dropBoundingSet removes every other capability from the calling thread's
// bounding set, so the command, forked from this thread, can never hold
// one. No-new-privs stays off: setuid programs (su, ping) keep working.
func dropBoundingSet() error {
	keep := map[uintptr]bool{}
	for _, c := range DefaultCaps {
		keep[c] = true
	}
	for c := uintptr(0); c < 64; c++ {
		if keep[c] {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0)
		if err == unix.EINVAL {
			return nil // past the kernel's last capability
		}
		if err != nil {
			return os.NewSyscallError("prctl PR_CAPBSET_DROP", err)
		}
	}
	return nil
}
