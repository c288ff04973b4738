package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// Issue 11: after a kill -9 of bld, its steps' cgroups (bld-<pid>-<hex>)
// stayed in every hierarchy, with whatever still ran in them. Recover
// kills what is left and removes them, children first, in v1 and v2
// hierarchies, and leaves the cgroups of live bld processes alone. Needs
// root.
func TestRecoverCgroups(t *testing.T) {
	testutil.RequireRoot(t)
	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	own, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	// A pid that is surely dead: a process that ran and was reaped.
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	dead := done.Process.Pid
	var deadDirs, liveDirs []string
	for _, c := range []string{"memory", "pids", ""} {
		var h *hierarchy
		var parent string
		if c == "" {
			for i := range hs {
				if hs[i].v2 {
					h = &hs[i]
				}
			}
			if h == nil {
				continue
			}
			parent = filepath.Join(h.mountpoint, "bld")
		} else {
			if h = findHierarchy(hs, c); h == nil || h.v2 {
				continue
			}
			parent = hierarchyPath(h, own[c])
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(parent, fmt.Sprintf("bld-%d-beef", dead))
		l := filepath.Join(parent, fmt.Sprintf("bld-%d-cafe", os.Getpid()))
		for _, p := range []string{filepath.Join(d, "child"), l} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		deadDirs = append(deadDirs, d)
		liveDirs = append(liveDirs, l)
	}
	t.Cleanup(func() {
		for _, d := range append(append([]string(nil), deadDirs...), liveDirs...) {
			_ = unix.Rmdir(filepath.Join(d, "child"))
			_ = unix.Rmdir(d)
		}
	})
	if len(deadDirs) == 0 {
		t.Fatal("no cgroup hierarchy to test in")
	}
	// Something still runs in the dead step's cgroup.
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleeper.Wait() }()
	t.Cleanup(func() { _ = sleeper.Process.Kill() })
	for _, d := range deadDirs {
		if err := os.WriteFile(filepath.Join(d, "child", "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}

	if err := Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Error("the process in the dead step's cgroup still runs")
	}
	for _, d := range deadDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("dead step's cgroup left: %s", d)
		}
	}
	for _, l := range liveDirs {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("a live bld's cgroup was removed: %s", l)
		}
	}
}
