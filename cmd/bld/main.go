// Command bld builds container images from Dockerfiles without a daemon.
// This package holds the cobra commands and their flags, the rendering of
// results and progress (with progressui), and exit codes; every command is
// a few lines over a library call: build.Run, build.Check, build.Images,
// build.History, state.Root's Usage and Prune, registry.Client.Login. Its
// key types are the per-command option structs (buildOptions, ...) and
// globalOptions, the flags every command shares.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/sandbox"
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
	sandbox.Init()
	os.Exit(run())
}

// run runs the command line and returns the exit code; it prints an error
// once, here.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
