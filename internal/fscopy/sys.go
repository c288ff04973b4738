package fscopy

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

// Open flags. Every open of a final path component uses O_NOFOLLOW: a
// symbolic link is never followed below a resolved top-level path.
// O_NONBLOCK keeps a FIFO swapped in for a file from blocking the build.
const (
	flagDir    = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	flagRead   = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	flagCreate = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
)

// eintr retries f while it fails with EINTR (possible on FUSE and network
// file systems).
func eintr(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	var fd int
	err := eintr(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags, mode)
		return err
	})
	return fd, err
}

// openDirAt opens the directory name in dirfd without following a link.
func openDirAt(dirfd int, name string) (*os.File, error) {
	fd, err := openat(dirfd, name, flagDir, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openDirIn opens the directory name in r. O_DIRECTORY makes a FIFO (or
// any non-directory) fail at once rather than block the open.
func openDirIn(r *os.Root, name string) (*os.File, error) {
	return r.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	return eintr(func() error { return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// createAt runs create, which makes name in dirfd; if name exists and is not
// a directory it is removed (never followed) and create runs again.
func createAt(dirfd int, name string, create func() error) error {
	err := create()
	if err != unix.EEXIST {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, 0); err != nil && err != unix.ENOENT {
		if err == unix.EISDIR {
			return errReplaceDir
		}
		return err
	}
	return create()
}

var errReplaceDir = errors.New("cannot replace a directory with a non-directory")

func isDir(st *unix.Stat_t) bool     { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
func isReg(st *unix.Stat_t) bool     { return st.Mode&unix.S_IFMT == unix.S_IFREG }
func isSymlink(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFLNK }

func mtimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }

// futimes sets the access and modification times of an open file (like
// futimens(3): utimensat with a NULL path).
func futimes(fd int, t time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// lutimesAt sets the times of name in dirfd, not following a link.
func lutimesAt(dirfd int, name string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// chownErr drops EPERM from a chown made without privileges (tests run by a
// developer): files then keep the caller's ids. As root, or as root of a
// user namespace, every error counts.
func chownErr(err error) error {
	if err == unix.EPERM && os.Geteuid() != 0 {
		return nil
	}
	return err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyData copies src to dst from their current offsets until EOF, with
// copy_file_range (in-kernel, reflinks where the file system can), falling
// back to read/write where it is not supported.
func copyData(dst, src int) error {
	for {
		n, err := unix.CopyFileRange(src, nil, dst, nil, 1<<30, 0)
		switch {
		case err == nil && n == 0:
			return nil
		case err == nil:
			continue
		case err == unix.EINTR:
			continue
		case err == unix.EXDEV, err == unix.ENOSYS, err == unix.EINVAL, err == unix.EOPNOTSUPP, err == unix.EPERM, err == unix.EBADF:
			return copyLoop(dst, src)
		default:
			return err
		}
	}
}

func copyLoop(dst, src int) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := unix.Read(src, buf)
		if err == unix.EINTR { // EAGAIN (a FIFO swapped in) is an error

			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		for w := buf[:n]; len(w) > 0; {
			m, err := unix.Write(dst, w)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			w = w[m:]
		}
	}
}

// skipXattr reports xattrs never copied: the host's SELinux label and
// overlayfs' private attributes must not leak into an image.
func skipXattr(name string) bool {
	return name == "security.selinux" || !archive.LayerXattr(name)
}

// copyXattrs copies the extended attributes of src to dst, both open files,
// where the file systems allow it (best effort, like BuildKit).
func copyXattrs(dst, src int) {
	n, err := unix.Flistxattr(src, nil)
	if err != nil || n <= 0 {
		return
	}
	names := make([]byte, n)
	n, err = unix.Flistxattr(src, names)
	if err != nil {
		return
	}
	for _, name := range strings.Split(string(names[:n]), "\x00") {
		if name == "" || skipXattr(name) {
			continue
		}
		sz, err := unix.Fgetxattr(src, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, sz)
		sz, err = unix.Fgetxattr(src, name, val)
		if err != nil {
			continue
		}
		_ = unix.Fsetxattr(dst, name, val[:sz], 0)
	}
}
