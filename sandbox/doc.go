// Package sandbox runs one command (a RUN step) as PID 1 of new mount, PID,
// UTS, IPC, cgroup and (per network mode) network namespaces, over a root
// made of mounts, with cgroup limits, Docker's default capabilities and
// masked paths, a new session keyring and no inherited file descriptors.
//
// By default a step gets a network namespace of its own, served by
// slirp4netns (network.go: userNet, hand-written, as no Go library starts
// it on a namespace path); "host" and "none" are the other modes. A build
// runs its steps through a Networks pool (netpool.go), which keeps such
// namespaces for reuse: a step still has one to itself while it runs, but
// a later step of the same build may get it again, once the earlier one's
// processes are gone. This departs from DESIGN.md's "a new network
// namespace per step" for speed (a new namespace and slirp4netns start
// cost 4-6 ms a step); the isolation from the host is the same, and a
// step cannot change the namespace for the next (no CAP_NET_ADMIN).
//
// Run (sandbox.go) takes a Spec and reports an *ExitError for a command that
// failed. It starts the step's init with a marker in its environment:
// package sandbox/internal/stepinit, which this package imports, sees the
// marker in its package initialiser and becomes the init there. The
// program started (initexe.go) is bld-init, stepinit as a program of its
// own, when the build embeds it (make build, scripts/build-bld.sh: build
// tag bld_initbin); it runs from a sealed memfd, and starts in about a
// third of the time of the whole bld (12.8 → 4.9 ms of CPU, `perf stat`,
// quiet machine), which every RUN step pays. Otherwise (a plain go build,
// a test binary, or a kernel that refuses an executable memfd) Run
// re-executes the current binary, whose stepinit initialiser runs before
// main and before most of its other packages are initialised: any
// program that imports this package, a test binary too, can be its own
// init. The init starts as PID 1 of the new
// namespaces, builds the root (stepinit's rootfs.go: the root mounts,
// /dev, the extra mounts and the /etc files, every target opened and
// created through descriptors with openat2 RESOLVE_IN_ROOT and mounted
// with open_tree/fsmount and move_mount, see internal/mount's OpenIn,
// Detached and Attach; pseudofs.go: /proc, /sys, Docker's masked and
// read-only paths), pivot_roots, hands the mount targets it created to Run
// (their parents' descriptors over SCM_RIGHTS), joins the cgroups, drops
// capabilities (caps.go), switches user (user.go) and execve's the
// command, which so is PID 1. Run waits for it and then removes those
// mount targets through the descriptors.
//
// What the step's /proc/self/mountinfo shows of the host, as Docker's
// does: device numbers and filesystem types; for an overlay root, the layer
// directories relative to their common parent (the snapshot IDs, not the
// state root); for a bind root or a bind or cache mount, the source's path
// within its filesystem. The /etc files come from a tmpfs ("/hosts"), and
// no scratch path of Run appears.
//
// Hand-written rather than taken from runc's libcontainer: libcontainer
// needs its own C init (nsexec) linked into the binary and a state
// directory per container; this package is a small Go init, a few
// hundred lines, with the kernel's descriptor-based mount API doing the
// part that must not race.
//
// The command runs under Docker's default seccomp profile (seccomp.go: the
// profile from moby/profiles/seccomp, compiled to BPF by our own compiler,
// since go-seccomp-bpf covers one ABI only and has no per-rule errno) and
// Docker's default device allowlist (devices.go: v1 devices controller
// files, a BPF_CGROUP_DEVICE program on cgroup v2, both on hybrid hosts).
package sandbox
