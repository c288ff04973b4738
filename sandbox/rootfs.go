package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// rootfs is the step's root as the init builds it. It records the mount
// targets it had to create, so they can be removed after the step and
// never land in its layer.
type rootfs struct {
	dir     string        // where the root is: the mount point before pivot_root, "/" after
	created []placeholder // in creation order
}

// placeholder is a file or directory the sandbox created in the root.
type placeholder struct {
	path     string // inside the root
	dir      bool
	dev, ino uint64 // to remove only what was created, even if renamed over
	// parent's times before and after the creation; the parent's times are
	// put back after removal when the step did not change it meanwhile.
	before, after *[2]unix.Timespec
}

// host returns the path, as the init sees it, of p inside the root.
func (r *rootfs) host(p string) string { return filepath.Join(r.dir, p) }

// mountAll mounts the root, /proc, /dev, /sys and the extra mounts, in the
// order runc does (extra mounts last, so they may cover the defaults).
func (r *rootfs) mountAll(cfg *config) error {
	// Nothing done here may propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make rprivate", Path: "/", Err: err}
	}
	root := make([]mount.Mount, len(cfg.Root))
	for i, m := range cfg.Root {
		m.Target = ""
		root[i] = m
	}
	if err := mount.All(root, r.dir); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	if err := r.mountProc(); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := r.mountDev(); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	if err := r.mountSys(); err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	if err := r.mask(); err != nil {
		return err
	}
	for _, m := range cfg.Mounts {
		if err := r.mount(m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	return nil
}

// mount makes the extra mount m at its target in the root, creating the
// target when missing.
func (r *rootfs) mount(m mount.Mount) error {
	file := false
	if isBind(m) {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		file = !fi.IsDir()
	}
	// mount.All resolves the target as ensure did and finds it there.
	if _, err := r.ensure(m.Target, !file); err != nil {
		return err
	}
	return mount.All([]mount.Mount{m}, r.dir)
}

// ensure returns the path, as the init sees it, of p resolved inside the
// root, after creating its missing components: directories, and an empty
// file last unless dir.
func (r *rootfs) ensure(p string, dir bool) (string, error) {
	rel, err := resolveIn(r.dir, p)
	if err != nil {
		return "", err
	}
	cur := "/"
	parts := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		parent := cur
		cur = path.Join(cur, part)
		if _, err := os.Lstat(r.host(cur)); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		ph := placeholder{path: cur, dir: dir || i < len(parts)-1}
		if len(r.created) == 0 || path.Dir(cur) != r.created[len(r.created)-1].path {
			ph.before = times(r.host(parent))
		}
		if ph.dir {
			err = os.Mkdir(r.host(cur), 0o755)
		} else {
			var f *os.File
			f, err = os.OpenFile(r.host(cur), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		if err := unix.Lstat(r.host(cur), &st); err != nil {
			return "", &os.PathError{Op: "lstat", Path: r.host(cur), Err: err}
		}
		ph.dev, ph.ino = st.Dev, st.Ino
		if ph.before != nil {
			ph.after = times(r.host(parent))
		}
		r.created = append(r.created, ph)
	}
	return r.host(cur), nil
}

// times returns the access and modification times of p, or nil.
func times(p string) *[2]unix.Timespec {
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil {
		return nil
	}
	return &[2]unix.Timespec{st.Atim, st.Mtim}
}

// cleanup unmounts everything mounted inside the root and removes the
// placeholders, newest first. A placeholder the step put files into stays.
func (r *rootfs) cleanup() error {
	var errs []error
	if err := unmountUnder(r.dir); err != nil {
		errs = append(errs, err)
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		ph := r.created[i]
		p := r.host(ph.path)
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != ph.dev || st.Ino != ph.ino {
			continue
		}
		parent := filepath.Dir(p)
		changed := ph.after == nil || !sameTimes(times(parent), ph.after)
		var err error
		if ph.dir {
			err = unix.Rmdir(p)
		} else {
			err = unix.Unlink(p)
		}
		switch {
		case err == unix.ENOTEMPTY || err == unix.EEXIST:
			continue // the step wrote into it: it is the step's now
		case err != nil:
			errs = append(errs, &os.PathError{Op: "remove", Path: ph.path, Err: err})
			continue
		}
		if !changed && ph.before != nil {
			unix.UtimesNanoAt(unix.AT_FDCWD, parent, ph.before[:], unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	return errors.Join(errs...)
}

func sameTimes(a, b *[2]unix.Timespec) bool {
	return a != nil && b != nil && a[1] == b[1]
}

// unmountUnder unmounts every mount below dir (not dir itself), newest
// first. It reads the mount table rather than a list of its own, so a mount
// point the step renamed is still found.
func unmountUnder(dir string) error {
	all, err := mount.Points(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	var points []string
	for _, p := range all {
		if p != strings.TrimSuffix(dir, "/") {
			points = append(points, p)
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		err := unix.Unmount(points[i], unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		// EINVAL: gone with a mount above it, detached before.
		if err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "unmount", Path: points[i], Err: err})
		}
	}
	return errors.Join(errs...)
}

// resolveIn resolves p inside root as if root were "/": symlinks are
// followed, absolute ones from root, and ".." stops at root. Components that
// do not exist are taken as they are. It returns a clean absolute path
// relative to root. Nothing runs in the root yet, so nothing races it.
func resolveIn(root, p string) (string, error) {
	const maxLinks = 40
	resolved, rest, links := "/", p, 0
	for {
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return resolved, nil
		}
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		switch part {
		case ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			resolved = next
			continue
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink == 0:
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", &os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = target + "/" + rest
	}
}

// pivotRoot makes dir the root of the mount namespace and lets go of the
// old one.
func pivotRoot(dir string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(dir); err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, so
	// no directory for it is needed in the new root (that would show in
	// the layer).
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: dir, Err: err}
	}
	// Back in the old root, make it a slave so that the unmount below
	// cannot propagate anywhere, then detach it, uncovering the new root.
	if err := unix.Fchdir(oldRoot); err != nil {
		return &os.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make rslave", Path: "old root", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount", Path: "old root", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}
