package archive

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/userns"
)

// LayerXattr reports whether xattr k belongs in a tar. Overlay's own
// attributes never do, in either namespace (trusted.overlay. as root,
// user.overlay. for an overlay mounted with userxattr in bld's user
// namespace): they describe one upper dir, and a layer that set them could
// redirect lookups.
func LayerXattr(k string) bool {
	return !strings.HasPrefix(k, overlayXattr) && !strings.HasPrefix(k, userOverlayXattr)
}

// OpaqueXattr is the xattr that marks an overlay upper dir opaque here:
// trusted.overlay.opaque as root, user.overlay.opaque when bld runs in its
// own user namespace, where overlays are mounted with userxattr (the kernel
// lets no namespace but the initial one set trusted. attributes).
func OpaqueXattr() string {
	if userns.Rootless() {
		return userOverlayXattr + "opaque"
	}
	return opaqueXattr
}

// Lxattrs returns the xattrs of path (not following a final symlink)
// that belong in a tar.
func Lxattrs(path string) (map[string]string, error) {
	names, err := listXattrNames(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
	if err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	var out map[string]string
	for _, k := range names {
		if !LayerXattr(k) {
			continue
		}
		v, err := getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(path, k, b) })
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
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

// fxattrs is Lxattrs for an open file.
func fxattrs(f *os.File) (map[string]string, error) {
	return fdXattrs(int(f.Fd()), f.Name())
}

// fdXattrs is Lxattrs for the open file fd, named name in errors.
func fdXattrs(fd int, name string) (map[string]string, error) {
	names, err := listXattrNames(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) })
	if err != nil {
		return nil, &os.PathError{Op: "flistxattr", Path: name, Err: err}
	}
	var out map[string]string
	for _, k := range names {
		if !LayerXattr(k) {
			continue
		}
		v, err := getXattr(func(b []byte) (int, error) { return unix.Fgetxattr(fd, k, b) })
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, &os.PathError{Op: "fgetxattr " + k, Path: name, Err: err}
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
			return nil, nil // a file system without xattrs has none
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

// Lgetxattr returns the value of xattr name of path, not following a
// final symlink; a missing xattr is an error wrapping unix.ENODATA.
func Lgetxattr(path, name string) (string, error) {
	return getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
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
