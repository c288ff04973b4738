package snapshot

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	paxXattr      = "SCHILY.xattr."
	overlayXattr  = "trusted.overlay."
	opaqueXattr   = "trusted.overlay.opaque"
	whiteoutPfx   = ".wh."
	opaqueMarker  = ".wh..wh..opq"
	metaWhiteouts = ".wh..wh."
)

// layerXattr reports whether xattr k belongs in a layer. Overlay's own
// attributes never do: they describe one upper dir, and a layer that set
// them could redirect lookups.
func layerXattr(k string) bool { return !strings.HasPrefix(k, overlayXattr) }

// lxattrs returns the xattrs of path (not following a final symlink)
// that belong in a layer.
func lxattrs(path string) (map[string]string, error) {
	names, err := listXattrNames(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
	if err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	var out map[string]string
	for _, k := range names {
		if !layerXattr(k) {
			continue
		}
		v, err := getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(path, k, b) })
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + k, Path: path, Err: err}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

func listXattrNames(list func([]byte) (int, error)) ([]string, error) {
	b := make([]byte, 256)
	for {
		n, err := list(b)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if errors.Is(err, unix.ERANGE) {
			size, err := list(nil)
			if err != nil {
				return nil, err
			}
			b = make([]byte, size+256)
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, k := range strings.Split(string(b[:n]), "\x00") {
			if k != "" {
				names = append(names, k)
			}
		}
		return names, nil
	}
}

func getXattr(get func([]byte) (int, error)) (string, error) {
	b := make([]byte, 256)
	for {
		n, err := get(b)
		if errors.Is(err, unix.ERANGE) {
			size, err := get(nil)
			if err != nil {
				return "", err
			}
			b = make([]byte, size+256)
			continue
		}
		if err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
}

// isOpaque reports whether overlay marked upper dir path opaque.
func isOpaque(path string) (bool, error) {
	v, err := getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(path, opaqueXattr, b) })
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
