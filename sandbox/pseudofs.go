package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// procReadonly are the parts of /proc that stay visible but read-only, as
// in runc's default spec.
var procReadonly = []string{"sys", "sysrq-trigger", "irq", "bus", "fs"}

// masked are paths hidden from the step: files under /dev/null, directories
// under an empty read-only tmpfs (runc's default masked paths).
var masked = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

// devices are the nodes of the minimal /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// mountProc mounts a proc for the step's PID namespace, with /proc/sys and
// the other kernel knobs read-only.
func (r *rootfs) mountProc() error {
	target, err := r.ensure("/proc", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	for _, name := range procReadonly {
		p := filepath.Join(target, name)
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if err == unix.ENOENT {
				continue
			}
			return &os.PathError{Op: "bind", Path: p, Err: err}
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount(p, p, "", flags, ""); err != nil {
			return &os.PathError{Op: "remount read-only", Path: p, Err: err}
		}
	}
	return nil
}

// mountDev mounts a tmpfs with the few devices a build needs, its own
// devpts, a /dev/shm and the usual symlinks.
func (r *rootfs) mountDev() error {
	target, err := r.ensure("/dev", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range devices {
		p := filepath.Join(target, d.name)
		err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor)))
		if err == unix.EPERM {
			// No mknod here (a restricted host): bind the host's node.
			err = bindHostDevice(p, "/dev/"+d.name)
		}
		if err != nil {
			return &os.PathError{Op: "mknod", Path: p, Err: err}
		}
	}
	pts := filepath.Join(target, "pts")
	if err := os.Mkdir(pts, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return &os.PathError{Op: "mount devpts", Path: pts, Err: err}
	}
	shm := filepath.Join(target, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return &os.PathError{Op: "mount tmpfs", Path: shm, Err: err}
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(target, l[1])); err != nil {
			return err
		}
	}
	return nil
}

func bindHostDevice(p, host string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	f.Close()
	return unix.Mount(host, p, "", unix.MS_BIND, "")
}

// mountSys mounts a read-only sysfs, or, where sysfs cannot be mounted, a
// recursive read-only bind of the host's.
func (r *rootfs) mountSys() error {
	target, err := r.ensure("/sys", true)
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("sysfs", target, "sysfs", flags, ""); err == nil {
		return nil
	}
	if err := unix.Mount("/sys", target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "bind", Path: "/sys", Err: err}
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, attr); err != nil {
		return &os.PathError{Op: "make read-only", Path: target, Err: err}
	}
	return nil
}

// mask hides the masked paths that exist.
func (r *rootfs) mask() error {
	null := r.host("/dev/null")
	for _, p := range masked {
		target := r.host(p)
		fi, err := os.Lstat(target)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount(null, target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}
