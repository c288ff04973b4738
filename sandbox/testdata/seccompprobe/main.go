// Command seccompprobe tries, inside a sandbox step, the syscalls Docker's
// default seccomp profile denies, and prints one line per attempt:
// "name: ok" or "name: <errno name>". Built by sandbox's tests
// (CGO_ENABLED=0), it is also a static, multithreaded Go program: that it
// runs at all shows the profile lets Go's runtime work.
//
// Usage: seccompprobe [key id to read]
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

var atFdcwd = unix.AT_FDCWD

func report(name string, err error) {
	if err == nil {
		fmt.Printf("%s: ok\n", name)
		return
	}
	if errno, ok := err.(unix.Errno); ok {
		fmt.Printf("%s: %s\n", name, unix.ErrnoName(errno))
		return
	}
	fmt.Printf("%s: %v\n", name, err)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func main() {
	// Threads at work: the Go runtime's clone, futex, mmap, sigaltstack...
	var wg sync.WaitGroup
	sums := make([]int, 8)
	for i := range sums {
		wg.Go(func() {
			for j := range 100000 {
				sums[i] += j
			}
		})
	}
	wg.Wait()
	fmt.Printf("threads: ok\n")

	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			fmt.Printf("seccomp mode: %s\n", strings.TrimSpace(v))
		}
	}

	if len(os.Args) > 1 {
		id, _ := strconv.Atoi(os.Args[1])
		buf := make([]byte, 256)
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err == nil {
			fmt.Printf("key payload: %s\n", buf[:n])
		}
		report("keyctl read", err)
	}
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	report("keyctl", err)
	// The thread keyring goes with the thread: nothing is left behind when
	// the call works.
	_, err = unix.AddKey("user", "bld-seccomp-probe", []byte("x"), unix.KEY_SPEC_THREAD_KEYRING)
	report("add_key", err)
	_, err = unix.RequestKey("user", "bld-seccomp-probe-absent", "", unix.KEY_SPEC_THREAD_KEYRING)
	report("request_key", err)

	// A new user namespace, by a raw clone whose child exits at once (Go
	// refuses unshare(CLONE_NEWUSER) in a multithreaded process).
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 && pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	if e == 0 {
		var ws unix.WaitStatus
		unix.Wait4(int(pid), &ws, 0, nil)
	}
	report("clone newuser", errnoErr(e))

	report("mount", unix.Mount("none", "/mnt", "tmpfs", 0, ""))
	report("ptrace attach 1", unix.PtraceAttach(1))
	_, _, e = unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)
	report("kexec_load", errnoErr(e))
	var handle [128 + 8]byte
	*(*uint32)(unsafe.Pointer(&handle[0])) = 128
	_, _, e = unix.Syscall6(unix.SYS_OPEN_BY_HANDLE_AT, uintptr(atFdcwd), uintptr(unsafe.Pointer(&handle[0])), unix.O_RDONLY, 0, 0, 0)
	report("open_by_handle_at", errnoErr(e))
}
