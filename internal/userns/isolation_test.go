package userns_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestRootlessIsolation: a rootless step gains nothing the user did not
// have on the host. A file of the build context the user cannot read
// (root's, mode 0600) stays unreadable: COPY and a bind mount of the
// context fail naming it, and its content is in no output. A step that
// writes to a bind mount of the context, or tries to mount over it,
// leaves the host's files as they were.
func TestRootlessIsolation(t *testing.T) {
	u := newUser(t, true)
	dir := fixture(t, u, false, "FROM busybox\nCOPY secret /secret\n")
	out, err := u.run(t, dir, "import", "bb.tar", "busybox")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	ctx := filepath.Join(dir, "ctx")
	secret := filepath.Join(ctx, "secret")
	if err := os.WriteFile(secret, []byte("top-secret-42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 0, 0); err != nil {
		t.Fatal(err)
	}
	build := func(dockerfile string) (string, error) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		return u.run(t, dir, "build", "--progress", "plain", "--network", "none", "--output", "type=local,dest=out", "ctx")
	}
	for _, df := range []string{
		"FROM busybox\nCOPY secret /secret\n",
		"FROM busybox\nRUN --mount=type=bind,target=/ctx cat /ctx/secret > /leak\n",
	} {
		out, err := build(df)
		if err == nil || !strings.Contains(out, "secret") || !strings.Contains(out, "permission denied") {
			t.Errorf("%q: want the build to fail naming the unreadable file, got %v:\n%s", df, err, out)
		}
		if strings.Contains(out, "top-secret-42") {
			t.Errorf("%q: the secret's content is in the output:\n%s", df, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
			t.Errorf("%q: a failed build left an output", df)
		}
	}

	// Without the secret in the context: a step writes to the bind mount
	// (rw: its writes are discarded, as in BuildKit; deleting and making
	// a dir again) and tries to remount it; the context on the host is unchanged.
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	// The user's own files, group too: a file whose owner or group has
	// no id in bld's user namespace cannot be copied up by overlay
	// (EOVERFLOW), so a step cannot write to it even in its copy.
	if err := os.MkdirAll(filepath.Join(ctx, "sub", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "chown", "-R", u.Name+":", ctx)
	out, err = build("FROM busybox\n" +
		"RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/Dockerfile && " +
		// a whiteout and an opaque dir in the copy (overlay's marks)
		"rm -r /ctx/sub && mkdir /ctx/sub && test ! -e /ctx/sub/d && " +
		"! mount -t tmpfs none /ctx && ! mount -o remount,rw / && ! touch /proc/sysrq-trigger && echo wrote-ok\n")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if !strings.Contains(out, "wrote-ok") {
		t.Errorf("the step did not run to its end:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(ctx, "Dockerfile")); err != nil || !strings.HasPrefix(string(b), "FROM busybox") {
		t.Errorf("the host's context file changed: %q, %v", b, err)
	}
}
