package builder_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestTouchFailureIsAWarning: when the cache cannot record that a record
// was used (here its directory is a read-only bind mount), a rebuild still
// succeeds from the cache and says so in a warning, instead of dropping the
// error.
func TestTouchFailureIsAWarning(t *testing.T) {
	testutil.RequireRoot(t) // a read-only bind mount
	e := newEnv(t, map[string]string{"src.txt": "source"})
	g := &graph{}
	target := g.run(g.copyCtx(g.from("main"), "src.txt", "/src.txt"), "write /out built")
	e.mustBuild(target)

	records := filepath.Join(e.state, "cache", "records")
	if err := unix.Mount(records, records, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(records, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", records, err)
		}
	})
	if err := unix.Mount("", records, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}

	_, ev, n := e.mustBuild(target)
	if n != 0 {
		t.Errorf("rebuild ran %d steps, want 0", n)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	warnings := 0
	for _, x := range ev.all {
		if x.State == builder.Log && x.Stream == 2 && strings.HasPrefix(x.Line, "warning: mark cache record used") {
			warnings++
			if !strings.Contains(x.Line, "read-only file system") {
				t.Errorf("warning %q does not say why", x.Line)
			}
		}
	}
	if warnings != 2 {
		t.Errorf("%d warnings, want one per cached step (2)", warnings)
	}
}
