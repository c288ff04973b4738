// Package sandbox runs one command (a RUN step) in new mount, PID, UTS, IPC and
// cgroup namespaces over a root made of mounts, with cgroup limits and a PID-1 reaper.
//
// By default a step gets a network namespace of its own, served by
// slirp4netns (network.go: userNet, hand-written, as no Go library starts
// it on a namespace path); "host" and "none" are the other modes.
//
// Run re-executes the current binary with a marker in its environment, so a
// program using this package must call Init first in main (and a test binary
// first in TestMain).
package sandbox
