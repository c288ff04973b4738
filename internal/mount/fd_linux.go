package mount

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenIn opens p inside the directory open at root as an O_PATH
// descriptor, resolving symlinks and ".." as if root were "/"
// (openat2 RESOLVE_IN_ROOT) and never through /proc magic links: whatever
// happens to the tree meanwhile, the result is inside root. The caller
// closes it.
func OpenIn(root int, p string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(root, rel, how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a rename raced the lookup: try again
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return fd, nil
	}
}

// Detached makes m as a mount that is not attached anywhere yet and
// returns its descriptor, for Attach: a bind mount is a clone of its
// source's tree (open_tree), any other a new filesystem (fsopen, fsmount).
// Flags such as ro, nosuid, nodev, noexec are set on the new mount, never
// by a remount through a path. The caller closes the descriptor.
//
// Filesystem options go one by one through fsconfig, which takes values of
// at most 255 bytes: long overlay options need All.
func Detached(m Mount) (fd int, err error) {
	flags, propagation, data := parseOptions(m.Options)
	if m.Type == "rbind" {
		flags |= unix.MS_BIND | unix.MS_REC
	}
	if m.Type == "bind" {
		flags |= unix.MS_BIND
	}
	if flags&unix.MS_REMOUNT != 0 || len(propagation) > 0 {
		return -1, fmt.Errorf("mount %s: remount and propagation options are not supported on a detached mount", m.Target)
	}
	attr := mountAttrs(flags)
	if flags&unix.MS_BIND != 0 {
		treeFlags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		if flags&unix.MS_REC != 0 {
			treeFlags |= unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, treeFlags)
		if err != nil {
			return -1, &os.PathError{Op: "open_tree", Path: m.Source, Err: err}
		}
		if attr != 0 {
			at := unix.AT_EMPTY_PATH
			if flags&unix.MS_REC != 0 {
				at |= unix.AT_RECURSIVE
			}
			if err := unix.MountSetattr(fd, "", uint(at), &unix.MountAttr{Attr_set: attr}); err != nil {
				unix.Close(fd)
				return -1, &os.PathError{Op: "mount_setattr", Path: m.Source, Err: err}
			}
		}
		return fd, nil
	}
	fsfd, err := unix.Fsopen(m.Type, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, &os.PathError{Op: "fsopen", Path: m.Type, Err: err}
	}
	defer unix.Close(fsfd)
	set := func(key, value string, hasValue bool) error {
		var err error
		switch {
		case !hasValue:
			err = unix.FsconfigSetFlag(fsfd, key)
		case len(value) > 255:
			err = unix.E2BIG
		default:
			err = unix.FsconfigSetString(fsfd, key, value)
		}
		if err != nil {
			return fmt.Errorf("mount %s: option %s: %w", m.Type, key, err)
		}
		return nil
	}
	if m.Source != "" {
		if err := set("source", m.Source, true); err != nil {
			return -1, err
		}
	}
	for _, sb := range []struct {
		flag uintptr
		key  string
	}{{unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"}} {
		if flags&sb.flag != 0 {
			if err := set(sb.key, "", false); err != nil {
				return -1, err
			}
		}
	}
	for _, o := range data {
		k, v, ok := strings.Cut(o, "=")
		if err := set(k, v, ok); err != nil {
			return -1, err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, &os.PathError{Op: "fsconfig create", Path: m.Type, Err: err}
	}
	fd, err = unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attr))
	if err != nil {
		return -1, &os.PathError{Op: "fsmount", Path: m.Type, Err: err}
	}
	return fd, nil
}

// mountAttrs turns mount(2) per-mount flags into MOUNT_ATTR_* bits.
func mountAttrs(flags uintptr) uint64 {
	var a uint64
	for _, f := range []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if flags&f.ms != 0 {
			a |= f.attr
		}
	}
	switch {
	case flags&unix.MS_NOATIME != 0:
		a |= unix.MOUNT_ATTR_NOATIME
	case flags&unix.MS_STRICTATIME != 0:
		a |= unix.MOUNT_ATTR_STRICTATIME
	}
	return a
}

// Attach attaches the detached mount mfd (from Detached) on the file or
// directory open at target (from OpenIn). The kernel is given both
// descriptors: no path is resolved, so nothing renamed or swapped for a
// symlink meanwhile can move the mount elsewhere.
func Attach(mfd, target int) error {
	err := unix.MoveMount(mfd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return os.NewSyscallError("move_mount", err)
	}
	return nil
}

// At mounts m on the file or directory open at target: Detached, then
// Attach.
func At(m Mount, target int) error {
	mfd, err := Detached(m)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return Attach(mfd, target)
}
