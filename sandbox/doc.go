// Package sandbox runs one command (a RUN step) in new mount, PID, UTS, IPC and
// cgroup namespaces over a root made of mounts, with cgroup limits and a PID-1 reaper.
//
// Run re-executes the current binary with a marker in its environment, so a
// program using this package must call Init first in main (and a test binary
// first in TestMain).
//
// The command runs under Docker's default seccomp profile (seccomp.go: the
// profile from moby/profiles/seccomp, compiled to BPF by our own compiler,
// since go-seccomp-bpf covers one ABI only and has no per-rule errno) and
// Docker's default device allowlist (devices.go: v1 devices controller
// files, a BPF_CGROUP_DEVICE program on cgroup v2, both on hybrid hosts).
package sandbox
