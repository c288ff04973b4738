package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// bldRunner runs the bld binary with its own root and extra environment.
type bldRunner struct {
	t   *testing.T
	bin string
	env []string
}

func (r bldRunner) run(args ...string) (string, error) {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r bldRunner) must(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("bld %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// newLoadFixture makes a store with busybox and a context whose image
// needs no RUN: FROM busybox, COPY one file.
func newLoadFixture(t *testing.T, env ...string) (bldRunner, string) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	r := bldRunner{t: t, bin: testutil.Bld(t), env: append(os.Environ(), append(env, "BLD_ROOT="+filepath.Join(dir, "root"))...)}
	r.must("import", rootfs, "busybox")
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"Dockerfile": "FROM busybox\nCOPY hello.txt /\n", "hello.txt": "hello\n"} {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r, ctx
}

// With no docker answering and no podman on PATH, --load (and -o
// type=docker) fail with one line saying so, before building anything.
func TestLoadWithoutDaemon(t *testing.T) {
	empty := t.TempDir()
	r, ctx := newLoadFixture(t, "DOCKER_HOST=unix://"+filepath.Join(empty, "docker.sock"))
	r.env = append(r.env, "PATH="+empty)
	for _, args := range [][]string{
		{"build", "-q", "--load", "-t", "loaded:1", ctx},
		{"build", "-q", "-o", "type=docker", "-t", "loaded:1", ctx},
	} {
		out, err := r.run(args...)
		if err == nil {
			t.Fatalf("bld %s: succeeded with no daemon:\n%s", strings.Join(args, " "), out)
		}
		want := "no docker daemon answers at " + filepath.Join(empty, "docker.sock")
		if !strings.Contains(out, want) || !strings.Contains(out, "podman is not installed") {
			t.Errorf("bld %s: got %q, want a line with %q and podman", strings.Join(args, " "), out, want)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n"); n > 0 {
			t.Errorf("bld %s: the error is %d lines, want one:\n%s", strings.Join(args, " "), n+1, out)
		}
	}
	if out := r.must("images"); strings.Contains(out, "loaded:1") {
		t.Errorf("bld images after a refused --load: loaded:1 was built:\n%s", out)
	}

	r.env = append(r.env, "DOCKER_HOST=tcp://127.0.0.1:2375")
	if out, err := r.run("build", "-q", "--load", ctx); err == nil || !strings.Contains(out, "only over a local unix:// socket") {
		t.Errorf("--load with DOCKER_HOST=tcp://: %v\n%s", err, out)
	}
}

// --load into a real dockerd the test starts (own data and exec roots and
// socket, no bridge, no iptables): docker then has the image under its
// name, with bld's config digest as its ID.
func TestLoadIntoDocker(t *testing.T) {
	testutil.RequireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("needs dockerd: scripts/install-deps.sh installs Debian's docker.io")
	}
	sock := startDockerd(t, dockerd)
	r, ctx := newLoadFixture(t, "DOCKER_HOST=unix://"+sock)
	digest := strings.TrimSpace(r.must("build", "-q", "--load", "-t", "loaded:1", ctx))
	if out := r.must("build", "--progress", "plain", "-o", "type=docker,name=loaded:2", ctx); !strings.Contains(out, "\nloaded into docker at "+sock+"\n") {
		t.Errorf("the progress does not say where the image was loaded:\n%s", out)
	}

	var inspect struct {
		Manifest struct{ Config struct{ Digest string } }
	}
	if err := json.Unmarshal([]byte(r.must("inspect", "loaded:1")), &inspect); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loaded:1", "loaded:2"} {
		out, err := exec.Command("docker", "-H", "unix://"+sock, "image", "inspect", "--format", "{{.ID}}", name).CombinedOutput()
		if err != nil {
			t.Fatalf("docker image inspect %s after --load (bld printed %s): %v\n%s", name, digest, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != inspect.Manifest.Config.Digest {
			t.Errorf("docker's %s has ID %s, want bld's config digest %s", name, got, inspect.Manifest.Config.Digest)
		}
	}
	if out := r.must("images"); !strings.Contains(out, "loaded:1") {
		t.Errorf("--load did not write bld's store:\n%s", out)
	}
}

// startDockerd starts dockerd with everything of its own under a new
// directory and returns its socket; the test's cleanup stops it and
// removes what it made.
func startDockerd(t *testing.T, dockerd string) string {
	// unix socket paths are short: keep the directory near /.
	dir, err := os.MkdirTemp("/tmp", "bld-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd,
		"--config-file", cfg,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", "unix://"+sock,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--storage-driver=vfs", "--log-level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
		if err := mount.UnmountAll(dir); err != nil {
			t.Errorf("unmounting what dockerd left: %v", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing dockerd's dir: %v", err)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("docker", "-H", "unix://"+sock, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err == nil {
			t.Logf("dockerd %s at %s", strings.TrimSpace(string(out)), sock)
			return sock
		}
		select {
		case <-done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("dockerd exited: %v\n%s", cmd.ProcessState, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("dockerd did not answer within 60s: %s\n%s", out, b)
		}
	}
}
