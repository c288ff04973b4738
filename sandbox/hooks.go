package sandbox

// Hook points of the init's second stage, called in this order on the
// thread that execve's the command, after pivot_root, the cgroup join and
// the credentials, right before the inherited descriptors are closed and
// the command starts. They are variables so that the files owning each
// concern (seccomp*.go, devices*.go) set them from an init function
// without editing this file; the defaults do nothing.
var (
	// applyDevices applies the step's device rules that must be set from
	// inside the step (the device cgroup itself is set up by Run).
	applyDevices = func(cfg *config) error { return nil }
	// applySeccomp installs the step's seccomp filter. It runs last: after
	// it, the init makes only the syscalls the filter must allow
	// (close_range, execve).
	applySeccomp = func(cfg *config) error { return nil }
)
