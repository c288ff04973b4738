package stepinit

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// A step's init, when it is the bld binary re-executed by Run (a bld built
// without the embedded bld-init), starts from package stepinit's
// initialiser, before the packages a RUN step never needs are initialised: GODEBUG=inittrace=1 lists every
// package initialised before the init ends (here at once, without a config
// on fd 4). The same binary run as a command initialises them all.
func TestInitEarly(t *testing.T) {
	bld := testutil.Bld(t)
	// trace runs bld as itself or as a step's init (no config: it
	// fails), and returns its inittrace.
	trace := func(mode string) string {
		t.Helper()
		cmd := exec.Command(bld, "--help")
		cmd.Env = []string{"GODEBUG=inittrace=1"}
		if mode == "init" {
			cmd.Env = append(cmd.Env, Env+"=1")
		}
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.ExtraFiles = []*os.File{null, null} // fd 3 (no socket), fd 4 (an empty config)
		err = cmd.Run()
		switch {
		case mode == "init" && err == nil:
			t.Fatalf("init without a config exited 0:\n%s", stderr.String())
		case mode == "" && err != nil:
			t.Fatalf("bld --help: %v\n%s", err, stderr.String())
		}
		return stderr.String()
	}
	initialised := func(trace, pkg string) bool {
		return strings.Contains(trace, "init "+pkg+" @")
	}
	heavy := []string{
		"github.com/bldbuild/bld/frontend/check",              // Dockerfile checks, regexps
		"github.com/moby/buildkit/frontend/dockerfile/parser", // the Dockerfile parser
		"github.com/opencontainers/go-digest",                 // digest regexps
		"github.com/google/go-containerregistry/pkg/name",     // registry references
		"github.com/bldbuild/bld/sandbox",                     // the parent side itself
	}
	full, early := trace(""), trace("init")
	if !initialised(early, "golang.org/x/sys/unix") {
		t.Fatalf("no inittrace of the init's own imports:\n%s", early)
	}
	for _, pkg := range heavy {
		if !initialised(full, pkg) {
			t.Errorf("bld --help did not initialise %s: the check below says nothing", pkg)
		}
		if initialised(early, pkg) {
			t.Errorf("the step's init initialised %s", pkg)
		}
	}
	t.Logf("packages initialised: %d by bld --help, %d by a step's init",
		strings.Count(full, "\ninit ")+1, strings.Count(early, "\ninit ")+1)
}
