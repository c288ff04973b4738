// Package sandbox runs one command (a RUN step) as PID 1 of new mount, PID,
// UTS, IPC, cgroup and (per network mode) network namespaces, over a root
// made of mounts, with cgroup limits, Docker's default capabilities and
// masked paths, a new session keyring and no inherited file descriptors.
//
// Run (sandbox.go) takes a Spec and reports an *ExitError for a command that
// failed. It re-executes the current binary with a marker in its
// environment, so a program using this package must call Init first in main
// (and a test binary first in TestMain). The init has two stages (init.go):
// stage 1, in a mount namespace of its own, builds the root (rootfs.go:
// the root mounts, /dev, the extra mounts and the /etc files, every target
// opened and created through descriptors with openat2 RESOLVE_IN_ROOT and
// mounted with open_tree/fsmount and move_mount, see internal/mount's
// OpenIn, Detached and Attach), then waits for stage 2, cleans up and
// reports; stage 2 mounts /proc and /sys and masks paths (pseudofs.go),
// pivot_roots, joins the cgroups, drops capabilities (caps.go), switches
// user (user.go) and execve's the command. hooks.go holds the points where
// seccomp and device rules plug in.
//
// Hand-written rather than taken from runc's libcontainer: libcontainer
// needs its own C init (nsexec) linked into the binary and a state
// directory per container; this package is one Go binary's re-exec, a few
// hundred lines, with the kernel's descriptor-based mount API doing the
// part that must not race.
package sandbox
