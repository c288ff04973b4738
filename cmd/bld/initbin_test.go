package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestEmbeddedInit: bld as make build makes it (testutil.Bld, via
// scripts/build-bld.sh) starts its RUN steps from the embedded bld-init,
// and a step started that way sees exactly what a step of a plain `go
// build` of bld (which re-executes itself as the init) sees: the same
// capabilities, seccomp mode, credentials, descriptors (none of bld's,
// the sealed init included), mounts and hostname. Needs root (RUN).
func TestEmbeddedInit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (RUN); CI runs as root")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "bld-plain")
	build := exec.Command("go", "build", "-o", plain, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rootfs := filepath.Join(dir, "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	df := `FROM busybox
RUN grep -E '^(Cap|Seccomp|NoNewPrivs|Uid|Gid|Groups)' /proc/self/status > /status && \
    ls /proc/self/fd > /fds && awk '{ print $5 }' /proc/self/mountinfo | sort > /mounts && \
    hostname > /host && mkdir /out && mv /status /fds /mounts /host /out/
FROM scratch
COPY --from=0 /out /
`
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]string{}
	for name, bin := range map[string]string{"embedded": testutil.Bld(t), "plain": plain} {
		r := bldRunner{t: t, bin: bin, env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, name+"-root"))}
		v := r.must("version")
		want := map[string]string{"embedded": "step init: bld-init, embedded", "plain": "step init: bld itself (this bld was built without bld-init"}[name]
		if !strings.Contains(v, want) {
			t.Errorf("%s bld version: no %q in\n%s", name, want, v)
		}
		r.must("import", rootfs, "busybox")
		out := filepath.Join(dir, name+"-out")
		r.must("build", "--progress", "quiet", "--output", "type=local,dest="+out, ctx)
		seen[name] = map[string]string{}
		for _, f := range []string{"status", "fds", "mounts", "host"} {
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			seen[name][f] = string(b)
		}
	}
	for f, got := range seen["embedded"] {
		if want := seen["plain"][f]; got != want {
			t.Errorf("a step's /%s differs:\nembedded init:\n%s\nbld as its init:\n%s", f, got, want)
		}
	}
	if fds := strings.Fields(seen["embedded"]["fds"]); strings.Join(fds, " ") != "0 1 2 3" {
		t.Errorf("a step's descriptors: %q; want 0 1 2 and ls's own 3", fds)
	}
	if !strings.Contains(seen["embedded"]["status"], "Seccomp:\t2") {
		t.Errorf("a step runs without its seccomp filter:\n%s", seen["embedded"]["status"])
	}
}
