package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
)

// WithTempMount mounts mounts at a new temporary directory, calls fn with
// that directory, then unmounts everything and removes the directory, also
// when fn fails or panics.
//
// A snapshot without layers below it is a single writable bind mount of a
// directory; for it fn gets the directory itself and nothing is mounted, so
// that case needs no privileges.
func WithTempMount(ctx context.Context, mounts []Mount, fn func(root string) error) error {
	return WithTempMountIn(ctx, "", mounts, fn)
}

// WithTempMountIn is WithTempMount with the temporary directory made in
// dir (os.TempDir() when ""): a build passes its scratch directory, so a
// mount left by a crash is found and undone by the next start.
func WithTempMountIn(ctx context.Context, dir string, mounts []Mount, fn func(root string) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if root, ok := directRoot(mounts); ok {
		return fn(root)
	}
	dir, err = os.MkdirTemp(dir, "bld-mount-")
	if err != nil {
		return fmt.Errorf("temp mount: %w", err)
	}
	defer func() {
		// Never RemoveAll: if unmounting failed, dir still shows the
		// mounted tree and removing it would delete the snapshot.
		cerr := UnmountAll(dir)
		if cerr == nil {
			cerr = os.Remove(dir)
		}
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("temp mount cleanup: %w", cerr))
		}
	}()
	if err := All(mounts, dir); err != nil {
		return err
	}
	return fn(dir)
}

// directRoot reports whether mounts is one writable bind mount of a
// directory at the root, which a caller can use in place without mounting.
func directRoot(mounts []Mount) (string, bool) {
	if len(mounts) != 1 {
		return "", false
	}
	m := mounts[0]
	if m.Type != "bind" || m.Target != "" || slices.Contains(m.Options, "ro") {
		return "", false
	}
	fi, err := os.Stat(m.Source)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	return m.Source, true
}
