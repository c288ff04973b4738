package frontend

import (
	"runtime"

	"github.com/bldbuild/bld/frontend/vars"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// hostPlatform is the platform bld runs on.
func hostPlatform() v1.Platform {
	return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
}

// formatPlatform writes p as "os/arch[/variant]".
func formatPlatform(p v1.Platform) string { return vars.FormatPlatform(p) }

// parsePlatform reads a FROM --platform value (vars.ParsePlatform:
// containerd's parser, normalised).
func parsePlatform(s string) (v1.Platform, error) { return vars.ParsePlatform(s) }
