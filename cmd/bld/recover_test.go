package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/state"
)

// Issue 11: kill -9 of bld while a RUN step with a secret mounted runs.
// Written to reproduce the finding on main before the fix: the secret
// stayed in ROOT/tmp/step-*/…/secret, the step's overlay stayed mounted
// under $TMPDIR with its bld-sandbox-* dir, and the bld-<pid>-* cgroups
// stayed. Now the next bld start undoes all of it. Needs root.
func TestKillDuringSecretRun(t *testing.T) {
	e := newDiskEnv(t, "")
	t.Cleanup(func() { detachLoops(e.dir) })
	// A private $TMPDIR: nothing of bld's may land there.
	tmpdir := filepath.Join(e.dir, "tmpdir")
	if err := os.Mkdir(tmpdir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detachLoops(tmpdir) })
	secret := fmt.Sprintf("topsecret-%x", rand.Uint64())
	secretFile := filepath.Join(e.dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	ctxDir := filepath.Join(e.dir, "slow")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := fmt.Sprint(30000 + rand.IntN(9999)) // a unique command line to wait for
	df := "FROM busybox\nRUN --mount=type=secret,id=s sleep " + sleep + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.bld, "build", "--progress", "plain", "--secret", "id=s,src="+secretFile, ctxDir)
	cmd.Env = append(os.Environ(), "BLD_ROOT="+e.root, "TMPDIR="+tmpdir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for len(pidsRunning("sleep\x00"+sleep+"\x00")) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the step never started:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if found := filesContaining(t, e.root, secret); len(found) == 0 {
		t.Log("the secret file is not under the root while the step runs")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The step dies with bld (SIGKILL on parent death).
	deadline = time.Now().Add(10 * time.Second)
	for len(pidsRunning("sleep\x00"+sleep+"\x00")) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}

	// The next start: a build of something else.
	if o, err := e.build("FROM busybox\nRUN echo ok > /ok\n"); err != nil {
		t.Fatalf("build after the kill: %v\n%s", err, o)
	}
	m, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(m), "\n") {
		if strings.Contains(line, e.root) || strings.Contains(line, tmpdir) {
			t.Errorf("mount left: %s", line)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "tmp")); len(ents) > 0 {
		for _, en := range ents {
			t.Errorf("scratch left in the root's tmp: %s", en.Name())
		}
	}
	if ents, _ := os.ReadDir(tmpdir); len(ents) > 0 {
		for _, en := range ents {
			t.Errorf("left in $TMPDIR: %s", en.Name())
		}
	}
	if cgs := cgroupsOf(pid); len(cgs) > 0 {
		t.Errorf("cgroups of the killed bld (pid %d) left: %v", pid, cgs)
	}
	if found := filesContaining(t, e.root, secret); len(found) > 0 {
		t.Errorf("the secret is left in %v", found)
	}
	if o, err := e.run("check"); err != nil {
		t.Errorf("bld check after recovery: %v\n%s", err, o)
	}
}

// `bld check` is clean on a good root and names each problem of a
// corrupted one: a blob with a flipped byte, a record's snapshot deleted.
// Needs root.
func TestCheck(t *testing.T) {
	e := newDiskEnv(t, "")
	t.Cleanup(func() { detachLoops(e.dir) })
	if o, err := e.build("FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n", "-t", "two"); err != nil {
		t.Fatalf("build: %v\n%s", err, o)
	}
	o, err := e.run("check")
	if err != nil {
		t.Fatalf("bld check on a good root: %v\n%s", err, o)
	}
	if !strings.Contains(o, " 0 problems") {
		t.Errorf("bld check on a good root:\n%s", o)
	}

	// Flip a byte in the largest blob (a layer).
	var blob string
	var size int64
	blobs := filepath.Join(e.root, "content", "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if fi, err := en.Info(); err == nil && fi.Size() > size {
			blob, size = en.Name(), fi.Size()
		}
	}
	p := filepath.Join(blobs, blob)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Delete a snapshot a record needs: the last step's, a leaf.
	ctx := context.Background()
	root, err := state.Open(ctx, e.root, state.Options{Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	var removed string
	if err := root.Cache.Walk(func(rec cache.Record) error {
		if removed == "" && rec.Snapshot != "" && root.Snapshots.Remove(ctx, rec.Snapshot) == nil {
			removed = rec.Snapshot
		}
		return nil
	}, func(cache.Unreadable) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if removed == "" {
		t.Fatal("no record's snapshot could be removed")
	}

	o, err = e.run("check")
	if err == nil {
		t.Errorf("bld check on a corrupted root succeeded:\n%s", o)
	}
	if !regexp.MustCompile(`blob sha256:` + blob + `: content has digest`).MatchString(o) {
		t.Errorf("bld check does not report the flipped blob %s:\n%s", blob, o)
	}
	if !strings.Contains(o, "snapshot "+removed+" missing") {
		t.Errorf("bld check does not report the removed snapshot %s:\n%s", removed, o)
	}
}

// pidsRunning returns the pids whose command line is cmdline (NUL-separated).
func pidsRunning(cmdline string) []string {
	var pids []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && string(b) == cmdline {
			pids = append(pids, p.Name())
		}
	}
	return pids
}

// cgroupsOf lists the step cgroups (bld-<pid>-<hex>) of bld process pid in
// every mounted hierarchy.
func cgroupsOf(pid int) []string {
	re := regexp.MustCompile(fmt.Sprintf(`^bld-%d-[0-9a-f]+$`, pid))
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if re.MatchString(d.Name()) {
			found = append(found, p)
			return fs.SkipDir
		}
		return nil
	})
	return found
}

// filesContaining lists the regular files under dir holding s, not
// following symlinks nor crossing into other filesystems' mounts.
func filesContaining(t *testing.T, dir, s string) []string {
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.Size() > 1<<20 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			found = append(found, p)
		}
		return nil
	})
	return found
}
