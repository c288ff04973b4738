package userns_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestRootlessMakeDemo: `make demo`, the README's first command, works
// for an ordinary user with subordinate ranges: the same Makefile, no
// sudo, the store under ~/.local/share/bld, the demo's RUN step on the
// default (user-mode) network. make's own `build` step is skipped (-o
// build, BIN= the test's bld) so the test does not compile bld again as
// the user.
func TestRootlessMakeDemo(t *testing.T) {
	u := newUser(t, true)
	testutil.RequireTool(t, "make")
	testutil.RequireTool(t, "slirp4netns")
	// The kernel's mode; this CI host's is 0600 (TestRootlessTunRefused).
	testutil.TunMode(t, 0o666)

	repo := filepath.Join(u.Home, "bld")
	for _, p := range []string{"Makefile", "scripts", "testdata/demo"} {
		dst := filepath.Join(repo, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "cp", "-a", filepath.Join("..", "..", p), dst)
	}
	testutil.Run(t, "chown", "-R", u.Name, u.Home)

	cmd := u.Command(t.Context(), repo, nil, "make", "-o", "build", "demo", "BIN="+u.bld)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo as %s: %v\n%s", u.Name, err, out)
	}
	for _, want := range []string{
		"[build 4/4] RUN sed", // the RUN step ran, on the default network
		"demo:latest",         // bld images
		`"User": "app"`,       // bld inspect
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(u.Home, ".local/share/bld/content/index.json")); err != nil {
		t.Errorf("the demo's store is not under ~/.local/share/bld: %v", err)
	}
}

// TestRootlessTunRefused: where the host made /dev/net/tun unusable for
// users, a RUN step on the default network fails before it starts, with
// one line naming the device and the way out; --network host (the user's
// own namespace) builds.
func TestRootlessTunRefused(t *testing.T) {
	u := newUser(t, true)
	testutil.TunMode(t, 0o600)
	dir := fixture(t, u, false, "FROM busybox\nRUN echo ste\"\"p-ran\n") // the name is not the output
	if out, err := u.run(t, dir, "import", "bb.tar", "busybox"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := u.run(t, dir, "build", "--progress", "plain", "ctx")
	if err == nil || !strings.Contains(out, "/dev/net/tun is not readable and writable by you") || strings.Contains(out, "step-ran") {
		t.Errorf("default network with /dev/net/tun 0600: want the step refused naming the device, got %v:\n%s", err, out)
	}
	if out, err := u.run(t, dir, "build", "--progress", "plain", "--network", "host", "--allow", "network.host", "ctx"); err != nil || !strings.Contains(out, "step-ran") {
		t.Errorf("--network host: %v\n%s", err, out)
	}
}
