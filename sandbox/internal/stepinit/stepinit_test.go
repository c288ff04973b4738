package stepinit

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// A step's init (the bld binary re-executed by Run) and a pooled network's
// holder start from package stepinit's initialiser, before the packages a
// RUN step never needs are initialised: GODEBUG=inittrace=1 lists every
// package initialised before the init ends (here at once, without a config
// on fd 4). The same binary run as a command initialises them all.
func TestInitEarly(t *testing.T) {
	bld := testutil.Bld(t)
	// trace runs bld as itself, as a step's init (no config: it fails)
	// or as a pooled network's holder (in a new network namespace, stdin
	// closed: lo up, one byte out, exit 0), and returns its inittrace.
	trace := func(mode string) string {
		t.Helper()
		cmd := exec.Command(bld, "--help")
		cmd.Env = []string{"GODEBUG=inittrace=1"}
		switch mode {
		case "init":
			cmd.Env = append(cmd.Env, Env+"=1")
		case "holder":
			cmd.Env = append(cmd.Env, HolderEnv+"=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
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
		case mode == "holder" && (err != nil || stdout.String() != "\x01"):
			t.Fatalf("network holder: %v, stdout %q\n%s", err, stdout.String(), stderr.String())
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
	full, early, holder := trace(""), trace("init"), trace("holder")
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
		if initialised(holder, pkg) {
			t.Errorf("the network holder initialised %s", pkg)
		}
	}
	t.Logf("packages initialised: %d by bld --help, %d by a step's init, %d by a network holder",
		strings.Count(full, "\ninit ")+1, strings.Count(early, "\ninit ")+1, strings.Count(holder, "\ninit ")+1)
}
