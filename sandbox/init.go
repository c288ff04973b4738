package sandbox

import "os"

// Init must be the first call in main, and in TestMain of tests that call
// Run. In a process started by Run it never returns; in any other process
// it returns at once.
//
// A step's init (package stepinit) does not wait for Init: Run marks it in
// its environment, and stepinit's package initialiser becomes the init
// before main, before most of bld's packages are initialised (see that
// package's documentation). The init starts as PID 1 of the step's new
// PID namespace, with new mount, UTS, IPC and (per network mode) network
// namespaces. It builds the root (the root mounts, /dev, the extra
// mounts, the /etc files, /proc, /sys and the masked paths), pivot_roots,
// hands the mount targets it created to Run, joins the step's cgroups and
// a new cgroup namespace, sets the hostname, a new session keyring, the
// rlimits, the capability bounding set and the credentials, closes every
// inherited descriptor and execve's the command, which so becomes PID 1
// (the init's Go threads end at execve). When it exits, the kernel kills
// whatever is left of the step, the mount namespace goes with it, and Run
// removes the mount targets.
//
// The other process this package starts from the bld binary, a pooled
// network namespace's holder (Networks), is served there too. Init is kept
// as the documented entry point (and a guard: a holder that got this far
// was not served, which cannot happen while this package imports
// stepinit).
func Init() {
	if os.Getenv(netHolderEnv) != "" {
		os.Stderr.WriteString("bld: network holder reached main: stepinit did not serve it\n")
		os.Exit(1)
	}
}
