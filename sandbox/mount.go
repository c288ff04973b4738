package sandbox

import (
	"slices"

	"github.com/bldbuild/bld/internal/mount"
)

// isBind reports whether m is a bind mount, whose source is a host path.
func isBind(m mount.Mount) bool {
	return m.Type == "bind" || m.Type == "rbind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}
