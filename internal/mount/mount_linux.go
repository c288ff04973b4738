package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// All mounts the root mounts of mounts (Target "") at target, in order, and
// then the others at their Target resolved inside target (symlinks are
// followed as if target were the root, so a Target can never land outside
// it). A missing mount point for an extra mount is created: a directory, or
// an empty file when a bind mount's source is not a directory. If a mount
// fails, All unmounts what it mounted before returning the error.
func All(mounts []Mount, target string) (err error) {
	target, err = filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	var done []string
	defer func() {
		if err == nil {
			return
		}
		for i := len(done) - 1; i >= 0; i-- {
			if uerr := Unmount(done[i]); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}()
	for _, m := range mounts {
		if m.Target != "" {
			continue
		}
		if err := m.mount(target); err != nil {
			return err
		}
		done = append(done, target)
	}
	for _, m := range mounts {
		if m.Target == "" {
			continue
		}
		dst, err := securejoin.SecureJoin(target, m.Target)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if err := createMountpoint(m, dst); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if err := m.mount(dst); err != nil {
			return err
		}
		done = append(done, dst)
	}
	return nil
}

// createMountpoint makes dst if it does not exist yet. dst is already
// resolved inside the root and nothing else writes there while mounting.
func createMountpoint(m Mount, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	dir := true
	if m.isBind() {
		if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
			dir = false
		}
	}
	if dir {
		return os.MkdirAll(dst, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

var flagOpts = map[string]flagOpt{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions splits fstab-style options into mount(2) flags, propagation
// changes (applied by separate calls) and filesystem data.
func parseOptions(opts []string) (flags uintptr, propagation []uintptr, data []string) {
	for _, o := range opts {
		if f, ok := flagOpts[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[o]; ok {
			propagation = append(propagation, p)
			continue
		}
		data = append(data, o)
	}
	return flags, propagation, data
}

func (m Mount) isBind() bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	flags, _, _ := parseOptions(m.Options)
	return flags&unix.MS_BIND != 0
}

// mount mounts m at target (an absolute host path).
func (m Mount) mount(target string) error {
	flags, propagation, data := parseOptions(m.Options)
	if m.Type == "rbind" {
		flags |= unix.MS_BIND | unix.MS_REC
	}
	if m.Type == "bind" {
		flags |= unix.MS_BIND
	}
	var err error
	switch {
	case flags&unix.MS_BIND != 0 && flags&unix.MS_REMOUNT == 0:
		err = bindMount(m.Source, target, flags)
	case m.Type == "overlay":
		err = mountOverlay(m.Source, target, flags, data)
	default:
		err = unix.Mount(m.Source, target, m.Type, flags, strings.Join(data, ","))
		if err != nil {
			err = &os.PathError{Op: "mount " + m.Type, Path: target, Err: err}
		}
	}
	if err != nil {
		return err
	}
	for _, p := range propagation {
		if err := unix.Mount("", target, "", p, ""); err != nil {
			return errors.Join(&os.PathError{Op: "mount propagation", Path: target, Err: err}, Unmount(target))
		}
	}
	return nil
}

// perMountFlags are the flags a bind mount takes only from a remount.
const perMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

func bindMount(source, target string, flags uintptr) error {
	// The kernel ignores everything but MS_BIND and MS_REC when creating a
	// bind mount; ro, nosuid and friends need a remount afterwards.
	if err := unix.Mount(source, target, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return &os.PathError{Op: "mount bind " + source, Path: target, Err: err}
	}
	extra := flags & perMountFlags
	if extra == 0 {
		return nil
	}
	// A remount must keep the flags the new mount inherited from its source
	// (in a user namespace they are locked and dropping one is EPERM).
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err == nil {
		extra |= inheritedFlags(st.Flags)
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|extra, ""); err != nil {
		return errors.Join(&os.PathError{Op: "remount bind", Path: target, Err: err}, Unmount(target))
	}
	if flags&unix.MS_REC != 0 && extra&unix.MS_RDONLY != 0 {
		// A remount changes only the top mount; make submounts of a
		// recursive bind read-only too where the kernel can (5.12+).
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &attr)
		if err != nil && !errors.Is(err, unix.ENOSYS) {
			return errors.Join(&os.PathError{Op: "mount_setattr", Path: target, Err: err}, UnmountAll(target))
		}
	}
	return nil
}

func inheritedFlags(st int64) uintptr {
	var f uintptr
	for _, p := range []struct {
		st int64
		ms uintptr
	}{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if st&p.st != 0 {
			f |= p.ms
		}
	}
	return f
}
