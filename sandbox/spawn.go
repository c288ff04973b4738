package sandbox

import (
	"os/exec"
	"runtime"
	"sync"
)

// A child started with a parent-death signal (Pdeathsig) gets it when the
// OS thread that forked it ends, not when bld does. Go ends a thread when
// a goroutine locked to it returns without unlocking, which bld does on
// purpose where a thread's state cannot be undone: the overlay mount's
// private working directory (internal/mount), the rootless tap set-up
// that cannot setns back (persistentTapIn). Any thread may have forked
// a step's init or slirp4netns earlier, so such a thread's end killed
// them at random: a rootless build failed with "slirp4netns:
// /proc/N/ns/net: No such file or directory" one run in four, the process
// that then held its pooled network gone. So every such child is started from one thread
// that is locked for the life of the process and never ends.

var (
	spawnOnce sync.Once
	spawnReq  chan func()
)

// start starts cmd on the spawning thread (see above).
func start(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as bld
			for f := range spawnReq {
				f()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReq <- func() { done <- cmd.Start() }
	return <-done
}
