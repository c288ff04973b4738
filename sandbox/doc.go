// Package sandbox runs one command (a RUN step) in new mount, PID, UTS, IPC and
// cgroup namespaces over a root made of mounts, with cgroup limits and a PID-1 reaper.
//
// Run re-executes the current binary with a marker in its environment, so a
// program using this package must call Init first in main (and a test binary
// first in TestMain).
package sandbox
