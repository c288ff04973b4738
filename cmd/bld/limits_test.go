package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// A RUN step that writes 200 MB without a newline: before the log writer
// was bounded, bld itself reached 1.41 GB RSS and took 7 min 43 s on it
// (its partial line was re-copied on every write). Now the output is cut
// into lines, clipped at the log limit and then only counted.
// Needs root (RUN runs in namespaces).
func TestRunOutputWithoutNewlines(t *testing.T) {
	testutil.RequireRoot(t)
	bld := testutil.Bld(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	env := append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))
	run := func(args ...string) (*exec.Cmd, string) {
		cmd := exec.Command(bld, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bld %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return cmd, string(out)
	}
	run("import", rootfs, "busybox")
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	df := "FROM busybox\nRUN head -c 200000000 /dev/zero | tr '\\0' A\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, out := run("build", "--progress", "plain", ctx)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	t.Logf("peak RSS %d MiB", rss>>10)
	if rss > 64<<10 {
		t.Errorf("bld's peak RSS was %d MiB, want under 64 MiB", rss>>10)
	}
	if !strings.Contains(out, "[output clipped, log limit 2MiB reached]") {
		t.Errorf("no clipping marker in the output:\n%.2000s", out)
	}
	if len(out) > 4<<20 {
		t.Errorf("the progress output is %d bytes: not clipped", len(out))
	}
}
