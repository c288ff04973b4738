package frontend

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/bldbuild/bld/frontend/vars"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// hostPlatform is the platform bld runs on.
func hostPlatform() v1.Platform {
	return normalizePlatform(v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH})
}

// formatPlatform writes p as "os/arch[/variant]".
func formatPlatform(p v1.Platform) string { return vars.FormatPlatform(p) }

// parsePlatform reads a --platform value: "os", "arch", "os/arch" or
// "os/arch/variant", normalised as containerd's platforms.Parse does
// ("linux/x86_64" is linux/amd64, "linux/arm" is linux/arm/v7).
func parsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	for _, p := range parts {
		if p == "" {
			return v1.Platform{}, fmt.Errorf("invalid platform %q", s)
		}
	}
	var p v1.Platform
	switch len(parts) {
	case 1:
		host := hostPlatform()
		if isKnownOS(parts[0]) {
			p = v1.Platform{OS: parts[0], Architecture: host.Architecture, Variant: host.Variant}
		} else if isKnownArch(parts[0]) {
			p = v1.Platform{OS: host.OS, Architecture: parts[0]}
		} else {
			return v1.Platform{}, fmt.Errorf("unknown operating system or architecture %q in platform %q", parts[0], s)
		}
	case 2:
		p = v1.Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = v1.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return v1.Platform{}, fmt.Errorf("invalid platform %q", s)
	}
	if !isKnownOS(p.OS) {
		return v1.Platform{}, fmt.Errorf("unknown operating system %q in platform %q", p.OS, s)
	}
	return normalizePlatform(p), nil
}

// normalizePlatform spells os, architecture and variant the way OCI
// indexes do.
func normalizePlatform(p v1.Platform) v1.Platform {
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	switch p.Architecture {
	case "i386":
		p.Architecture, p.Variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		p.Architecture = "amd64"
		if p.Variant == "v1" {
			p.Variant = ""
		}
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		if p.Variant == "8" || p.Variant == "v8" {
			p.Variant = ""
		}
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "arm":
		switch p.Variant {
		case "", "7":
			p.Variant = "v7"
		case "5", "6", "8":
			p.Variant = "v" + p.Variant
		}
	}
	return p
}

func isKnownOS(s string) bool {
	switch s {
	case "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
		"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos", "macos":
		return true
	}
	return false
}

func isKnownArch(s string) bool {
	switch s {
	case "386", "i386", "amd64", "x86_64", "x86-64", "amd64p32", "arm", "armhf", "armel", "armbe",
		"arm64", "aarch64", "arm64be", "loong64", "mips", "mipsle", "mips64", "mips64le",
		"mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390",
		"s390x", "sparc", "sparc64", "wasm":
		return true
	}
	return false
}
