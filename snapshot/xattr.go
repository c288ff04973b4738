package snapshot

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

const (
	whiteoutPfx  = ".wh."
	opaqueMarker = ".wh..wh..opq"
)

// lxattrs returns the xattrs of path (not following a final symlink)
// that belong in a layer (never overlay's own): internal/archive's, which
// the layer writer uses too.
func lxattrs(path string) (map[string]string, error) { return archive.Lxattrs(path) }

// isOpaque reports whether overlay marked upper dir path opaque.
func isOpaque(path string) (bool, error) {
	v, err := archive.Lgetxattr(path, archive.OpaqueXattr())
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "lgetxattr", Path: path, Err: err}
	}
	return v == "y", nil
}

// copyAttrs gives directory dst the owner, mode, xattrs and times of src.
func copyAttrs(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	xs, err := lxattrs(src)
	if err != nil {
		return err
	}
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Chmod(dst, st.Mode&07777); err != nil {
		return &os.PathError{Op: "chmod", Path: dst, Err: err}
	}
	for k, v := range xs {
		if err := unix.Lsetxattr(dst, k, []byte(v), 0); err != nil {
			return &os.PathError{Op: "lsetxattr " + k, Path: dst, Err: err}
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: dst, Err: err}
	}
	return nil
}
