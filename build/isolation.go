package build

import (
	"context"
	"sync"

	"github.com/bldbuild/bld/sandbox"
)

// autoIsolation runs RUN steps in the default sandbox until one cannot
// start because the environment allows no new namespaces (an unprivileged
// container or pod): from then on, that step included, they run with
// chroot isolation, and the build says so once. Nothing of a step that
// did not start has run, so it is run again as is. A build that asked for
// an isolation (--isolation default or chroot) never switches.
type autoIsolation struct {
	run  func(context.Context, sandbox.Spec) error
	prog Progress

	mu     sync.Mutex
	chroot bool
}

// chrootWarning is the one line a build prints when it falls back.
const chrootWarning = "warning: this environment allows no new namespaces: RUN steps run with --isolation chroot (a chroot only, weaker isolation; --isolation default makes this an error)"

func (a *autoIsolation) Run(ctx context.Context, spec sandbox.Spec) error {
	a.mu.Lock()
	chroot := a.chroot
	a.mu.Unlock()
	if !chroot {
		err := a.run(ctx, spec)
		if !sandbox.IsNoNamespaces(err) {
			return err
		}
		a.mu.Lock()
		if !a.chroot {
			a.chroot = true
			a.prog.Message(chrootWarning)
		}
		a.mu.Unlock()
	}
	return sandbox.RunChroot(ctx, spec)
}
