package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
)

// seccompDeny (a command of this test binary: seccomp-deny PROG ARGS...)
// execs PROG under a seccomp filter like a Kubernetes pod's runtime
// default: unshare, setns, mount and the new mount API, pivot_root, and
// clone with any namespace flag fail with EPERM.
func seccompDeny() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: seccomp-deny PROG ARGS...")
		os.Exit(2)
	}
	const nsFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls: []seccomp.SyscallGroup{
				{
					Action: seccomp.ActionErrno,
					Names: []string{"unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount",
						"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"},
				},
				{
					// clone3 passes its flags in memory seccomp cannot
					// read; it stays allowed, as plain forks need it.
					Action:             seccomp.ActionErrno,
					NamesWithCondtions: []seccomp.NameWithConditions{{Name: "clone", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: nsFlags}}}},
				},
			},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		fmt.Fprintf(os.Stderr, "seccomp-deny: %v\n", err)
		os.Exit(2)
	}
	prog, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "seccomp-deny: %v\n", err)
		os.Exit(2)
	}
	err = syscall.Exec(prog, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "seccomp-deny: exec %s: %v\n", prog, err)
	os.Exit(2)
}
