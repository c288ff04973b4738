// Command bld builds container images from Dockerfiles without a daemon.
// This package is the command line only: cobra commands and flags turned
// into library calls (build.Run, build.Check, state.Root's Usage and
// Prune, registry's login), progress rendered by progressui, and exit
// codes. The build, cache, GC and registry logic is in those packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/internal/userns"
)

// Exit codes: a Dockerfile step that failed (its command, a COPY source)
// is 1, like docker build; anything else bld could not do is 2; usage
// errors are 2 as well; a build stopped by Ctrl-C or SIGTERM is 130.
const (
	exitStep        = 1
	exitBld         = 2
	exitInterrupted = 130 // Ctrl-C or SIGTERM, as a shell reports SIGINT
)

func main() {
	os.Exit(start())
}

// start enters a user namespace when bld is not run by root (see
// internal/userns), then runs the command line.
func start() int {
	if err := userns.Enter(); err != nil {
		if !errors.Is(err, userns.ErrNoUserNS) {
			fmt.Fprintf(os.Stderr, "bld: %v\n", err)
			return exitBld
		}
		fmt.Fprintf(os.Stderr, "bld: warning: %v: running as the plain user, RUN steps cannot make their namespaces\n", err)
	}
	return run()
}

// run runs the command line and returns the exit code; it prints an error
// once, here.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// BLD_CPUPROFILE=FILE writes a CPU profile of the command (for `go
	// tool pprof`; bench/run.sh's profiles). A profile that cannot be
	// started is said and skipped: the command itself still runs.
	if f := os.Getenv("BLD_CPUPROFILE"); f != "" {
		if out, err := os.Create(f); err != nil {
			fmt.Fprintf(os.Stderr, "bld: BLD_CPUPROFILE: %v\n", err)
		} else if err := pprof.StartCPUProfile(out); err != nil {
			fmt.Fprintf(os.Stderr, "bld: BLD_CPUPROFILE: %v\n", err)
		} else {
			defer func() { pprof.StopCPUProfile(); out.Close() }()
		}
	}
	err := newRootCmd().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "bld: %v\n", err)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	var se *builder.StepError
	if errors.As(err, &se) || errors.Is(err, errChecksFailed) {
		return exitStep
	}
	return exitBld
}
