package stepinit

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/userns"
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

// insecureDevices are the host's nodes an insecure step also gets, as
// under BuildKit's security.insecure (the loop devices themselves are made
// by losetup through loop-control).
var insecureDevices = []string{"kmsg", "cuse", "fuse", "kvm", "loop-control"}

// mountDev mounts a tmpfs with the few devices a build needs, its own
// devpts, a /dev/shm of shmSize bytes and the usual symlinks. Everything below /dev is made
// through the new mount's descriptor.
func (r *rootfs) mountDev(shmSize int64) error {
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
	pts := []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}
	if !userns.GIDMapped(5) {
		pts = pts[:len(pts)-1] // rootless without subordinate gids: tty is unmapped
	}
	subs := []struct {
		name string
		m    mount.Mount
	}{
		{"pts", mount.Mount{Type: "devpts", Source: "devpts", Options: pts}},
		{"shm", mount.Mount{Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "nodev", "noexec", "mode=1777", fmt.Sprintf("size=%d", shmSize)}}},
	}
	for _, s := range subs {
		if err := unix.Mkdirat(dev, s.name, 0o755); err != nil {
			return &os.PathError{Op: "mkdir", Path: "/dev/" + s.name, Err: err}
		}
		if err := attachIn(dev, s.name, s.m); err != nil {
			return fmt.Errorf("/dev/%s: %w", s.name, err)
		}
	}
	if r.insecure {
		// BuildKit's insecure mode adds these host nodes, where they exist.
		for _, name := range insecureDevices {
			if _, err := os.Stat("/dev/" + name); err != nil {
				continue
			}
			if err := bindHostDevice(dev, name); err != nil {
				return &os.PathError{Op: "bind", Path: "/dev/" + name, Err: err}
			}
		}
	}
	if r.null, err = openBeneath(dev, "null"); err != nil {
		return &os.PathError{Op: "open", Path: "/dev/null", Err: err}
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
// network namespace on the targets mountAll opened, then makes Docker's
// read-only paths read-only and hides its masked paths, each opened
// beneath the new mount's own descriptor.
func (r *rootfs) mountKernelFS() error {
	proc, err := mount.Detached(mount.Mount{Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}})
	if err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	defer unix.Close(proc)
	if err := mount.Attach(proc, r.proc); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	sys, err := mountSys(r.sys, !r.insecure)
	if err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	defer unix.Close(sys)
	if r.insecure {
		return nil // nothing read-only, nothing masked
	}
	for _, p := range readonlyPaths {
		fd, err := openBeneath(proc, strings.TrimPrefix(p, "/proc/"))
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		err = readonlyBind(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return r.mask(proc, sys)
}

// openBeneath opens name below the directory open at dir as O_PATH,
// following no symlink.
func openBeneath(dir int, name string) (int, error) {
	return unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
	})
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

// mountSys mounts a sysfs (read-only unless insecure) on target, or, where sysfs cannot be
// mounted, a recursive read-only bind of the host's; it returns the new
// mount's descriptor.
func mountSys(target int, readonly bool) (int, error) {
	opts := []string{"ro", "nosuid", "nodev", "noexec"}
	if !readonly {
		opts = opts[1:]
	}
	sys, err := mount.Detached(mount.Mount{Type: "sysfs", Source: "sysfs", Options: opts})
	if err != nil {
		sys, err = unix.OpenTree(unix.AT_FDCWD, "/sys", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return -1, os.NewSyscallError("open_tree /sys", err)
		}
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
		if err := unix.MountSetattr(sys, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			unix.Close(sys)
			return -1, os.NewSyscallError("mount_setattr /sys", err)
		}
	}
	if err := mount.Attach(sys, target); err != nil {
		unix.Close(sys)
		return -1, err
	}
	return sys, nil
}

// mask hides the masked paths that exist, below the new /proc and /sys.
func (r *rootfs) mask(proc, sys int) error {
	for _, p := range maskedPaths {
		dir, name := proc, strings.TrimPrefix(p, "/proc/")
		if rest, ok := strings.CutPrefix(p, "/sys/"); ok {
			dir, name = sys, rest
		}
		target, err := openBeneath(dir, name)
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
				err = bindFD(r.null, target)
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
