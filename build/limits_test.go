package build

import (
	"strings"
	"testing"

	"github.com/bldbuild/bld/registry"
)

// The pull limits are --limit keys: manifest-size, config-size, layers.
func TestSetPullLimits(t *testing.T) {
	var l Limits
	for _, spec := range []string{"manifest-size=8MiB", "config-size=32MiB", "layers=200"} {
		if err := l.SetLimit(spec); err != nil {
			t.Fatalf("SetLimit(%q): %v", spec, err)
		}
	}
	want := registry.Limits{ManifestSize: 8 << 20, ConfigSize: 32 << 20, Layers: 200}
	if l.Pull != want {
		t.Errorf("Pull = %+v, want %+v", l.Pull, want)
	}
	if err := l.SetLimit("layers=many"); err == nil || !strings.Contains(err.Error(), "layers=many") {
		t.Errorf("SetLimit(layers=many) = %v", err)
	}
	keys := strings.Join(LimitKeys(), " ")
	for _, k := range []string{"manifest-size", "config-size", "layers"} {
		if !strings.Contains(keys, k) {
			t.Errorf("LimitKeys() = %s, no %s", keys, k)
		}
	}
}
