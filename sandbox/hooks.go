package sandbox

// Hook points of the init (execCommand in init.go). They run on the
// thread that execve's the command, after pivot_root, the
// cgroup join, the new session keyring and the bounding-set drop, still as
// root with every capability in the effective set, in this order:
// applyDevices, then the seccomp filter (seccomp.go: applySeccomp, with
// the filter Run compiled and sent in config.Seccomp; it lets through what
// the init does after it: setgroups, setresgid, setresuid,
// prctl(PR_SET_PDEATHSIG), close_range and execve); then the credentials are set, the inherited
// descriptors closed and the command execve'd. They are variables so that
// the files owning each concern (seccomp*.go, devices*.go) set them from an
// init function without editing this file; the defaults do nothing.
//
// The network is not a hook: in the default mode the init starts in a new
// network namespace that Run has slirp4netns serve (network.go) before the
// init gets its config.
var (
	// applyDevices applies the step's device rules that must be set from
	// inside the step (the device cgroup itself is set up by Run).
	applyDevices = func(cfg *config) error { return nil }
)
