package build

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"

	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/registry"
)

// Limits bound what a build accepts from its inputs (the Dockerfile, the
// context, base images), so hostile or broken input fails with the limit
// named instead of taking unbounded memory or time. Zero fields take the
// defaults; `bld build --limit KEY=VALUE` sets one (SetLimit).
type Limits struct {
	Frontend frontend.Limits // dockerfile-size, instructions, word-size, env-size
	// Log is the output one RUN step shows before it is clipped
	// (log-size; 0: builder.DefaultLogLimit, BuildKit's 2 MiB).
	Log int64
	// IgnorePatterns is the most .dockerignore patterns (ignore-patterns;
	// 0: frontend.DefaultMaxIgnorePatterns).
	IgnorePatterns int
	// Pull bounds base images and imported caches: manifest-size,
	// config-size, layers (0: registry's defaults, 4 MiB, 8 MiB, 127).
	Pull registry.Limits
}

// limitKeys are SetLimit's keys: each sets one field from a size
// ("4MiB", "512k") or a count.
var limitKeys = map[string]func(l *Limits, v string) error{
	"dockerfile-size": func(l *Limits, v string) error { return size(v, &l.Frontend.DockerfileSize) },
	"instructions":    func(l *Limits, v string) error { return count(v, &l.Frontend.Instructions) },
	"word-size":       func(l *Limits, v string) error { return sizeInt(v, &l.Frontend.WordSize) },
	"env-size":        func(l *Limits, v string) error { return sizeInt(v, &l.Frontend.EnvSize) },
	"log-size":        func(l *Limits, v string) error { return size(v, &l.Log) },
	"ignore-patterns": func(l *Limits, v string) error { return count(v, &l.IgnorePatterns) },
	"manifest-size":   func(l *Limits, v string) error { return size(v, &l.Pull.ManifestSize) },
	"config-size":     func(l *Limits, v string) error { return size(v, &l.Pull.ConfigSize) },
	"layers":          func(l *Limits, v string) error { return count(v, &l.Pull.Layers) },
}

// LimitKeys returns SetLimit's keys, sorted, for help texts.
func LimitKeys() []string { return slices.Sorted(maps.Keys(limitKeys)) }

// SetLimit sets one limit from a KEY=VALUE spec.
func (l *Limits) SetLimit(spec string) error {
	k, v, ok := strings.Cut(spec, "=")
	set, known := limitKeys[k]
	if !ok || !known {
		return fmt.Errorf("--limit %s: want KEY=VALUE with KEY one of %s", spec, strings.Join(LimitKeys(), ", "))
	}
	if err := set(l, v); err != nil {
		return fmt.Errorf("--limit %s: %w", spec, err)
	}
	return nil
}

func size(v string, dst *int64) error {
	n, err := units.RAMInBytes(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size", v)
	}
	*dst = n
	return nil
}

func sizeInt(v string, dst *int) error {
	var n int64
	if err := size(v, &n); err != nil {
		return err
	}
	*dst = int(n)
	return nil
}

func count(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive number", v)
	}
	*dst = n
	return nil
}
