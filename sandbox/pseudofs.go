package sandbox

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// readonlyPaths stay visible but read-only, and maskedPaths are hidden
// from the step (files under /dev/null, directories under an empty
// read-only tmpfs): Docker's defaults (moby's oci/defaults.go, ReadonlyPaths
// and MaskedPaths).
var (
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	maskedPaths   = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
)

// devices are the nodes of the minimal /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// mountDev mounts a tmpfs with the few devices a build needs, its own
// devpts, a /dev/shm and the usual symlinks. Everything below /dev is made
// through the new mount's descriptor.
func (r *rootfs) mountDev() error {
	target, err := r.ensure("/dev", true)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	dev, err := mount.Detached(mount.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}})
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := mount.Attach(dev, target); err != nil {
		return err
	}
	for _, d := range devices {
		err := unix.Mknodat(dev, d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor)))
		if err == unix.EPERM {
			// No mknod here (a restricted host): bind the host's node.
			err = bindHostDevice(dev, d.name)
		}
		if err != nil {
			return &os.PathError{Op: "mknod", Path: "/dev/" + d.name, Err: err}
		}
	}
	subs := []struct {
		name string
		m    mount.Mount
	}{
		{"pts", mount.Mount{Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
		{"shm", mount.Mount{Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "nodev", "noexec", "mode=1777", "size=65536k"}}},
	}
	for _, s := range subs {
		if err := unix.Mkdirat(dev, s.name, 0o755); err != nil {
			return &os.PathError{Op: "mkdir", Path: "/dev/" + s.name, Err: err}
		}
		if err := attachIn(dev, s.name, s.m); err != nil {
			return fmt.Errorf("/dev/%s: %w", s.name, err)
		}
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return &os.PathError{Op: "symlink", Path: "/dev/" + l[1], Err: err}
		}
	}
	return nil
}

// attachIn mounts m on name, a directory or file inside the directory open
// at dir (which the step cannot touch yet).
func attachIn(dir int, name string, m mount.Mount) error {
	target, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(target)
	return mount.At(m, target)
}

func bindHostDevice(dev int, name string) error {
	if err := unix.Mknodat(dev, name, unix.S_IFREG|0o666, 0); err != nil {
		return err
	}
	return attachIn(dev, name, mount.Mount{Type: "bind", Source: "/dev/" + name})
}

// mountKernelFS mounts /proc for the step's PID namespace and /sys for its
// network namespace, then makes Docker's read-only paths read-only and
// hides its masked paths. It runs in the second stage of the init, before
// pivot_root; root is the root's directory.
func mountKernelFS(root int) error {
	procfs := mount.Mount{Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}}
	if err := attachIn(root, "proc", procfs); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := mountSys(root); err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	for _, p := range readonlyPaths {
		src, err := unix.Openat2(root, p[1:], &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		err = readonlyBind(src)
		unix.Close(src)
		if err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return mask(root)
}

// readonlyBind covers the directory or file open at fd with a read-only
// bind of itself.
func readonlyBind(fd int) error {
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return os.NewSyscallError("open_tree", err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return os.NewSyscallError("mount_setattr", err)
	}
	return mount.Attach(tree, fd)
}

// mountSys mounts a read-only sysfs, or, where sysfs cannot be mounted, a
// recursive read-only bind of the host's.
func mountSys(root int) error {
	sysfs := mount.Mount{Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}}
	if err := attachIn(root, "sys", sysfs); err == nil {
		return nil
	}
	host, err := unix.Open("/sys", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/sys", Err: err}
	}
	defer unix.Close(host)
	target, err := unix.Openat2(root, "sys", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
	if err != nil {
		return &os.PathError{Op: "open", Path: "/sys", Err: err}
	}
	defer unix.Close(target)
	tree, err := unix.OpenTree(host, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return os.NewSyscallError("open_tree /sys", err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return os.NewSyscallError("mount_setattr /sys", err)
	}
	return mount.Attach(tree, target)
}

// mask hides the masked paths that exist.
func mask(root int) error {
	null, err := unix.Openat2(root, "dev/null", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/null", Err: err}
	}
	defer unix.Close(null)
	for _, p := range maskedPaths {
		target, err := unix.Openat2(root, p[1:], &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "mask", Path: p, Err: err}
		}
		var st unix.Stat_t
		err = unix.Fstat(target, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = mount.At(mount.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}}, target)
			} else {
				err = bindFD(null, target)
			}
		}
		unix.Close(target)
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// bindFD binds the file open at src on the one open at target.
func bindFD(src, target int) error {
	tree, err := unix.OpenTree(src, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return os.NewSyscallError("open_tree", err)
	}
	defer unix.Close(tree)
	return mount.Attach(tree, target)
}
