package snapshot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copier copies a snapshot tree keeping everything a layer can hold:
// type, mode (setuid, setgid, sticky), owner, xattrs, hard links, device
// numbers and times. Both trees are the snapshotter's own, with no other
// writers, so plain paths are safe: nothing below follows a final symlink
// and every directory on the way was created or listed by the copy itself.
type copier struct {
	ctx   context.Context
	links map[fileID]string // first copy of each multiply-linked inode
	clone bool              // try reflinks; off after the first failure
}

func copyTree(ctx context.Context, src, dst string) error {
	c := &copier{ctx: ctx, links: map[fileID]string{}, clone: true}
	if err := c.dir(src, dst); err != nil {
		return err
	}
	return copyAttrs(src, dst)
}

func (c *copier) dir(src, dst string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if err := c.entry(s, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) entry(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := c.dir(src, dst); err != nil {
			return err
		}
		// After the children: creating them changes the mtime.
		return copyAttrs(src, dst)
	case unix.S_IFREG:
		if st.Nlink > 1 {
			if first, ok := c.links[idOf(&st)]; ok {
				return os.Link(first, dst)
			}
			c.links[idOf(&st)] = dst
		}
		if err := c.file(src, dst); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := unix.Mknod(dst, st.Mode&unix.S_IFMT, int(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		return nil
	}
	return c.attrs(src, dst, &st)
}

// attrs copies the attributes of a non-directory.
func (c *copier) attrs(src, dst string, st *unix.Stat_t) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// After chown, which clears setuid and setgid.
		if err := unix.Chmod(dst, st.Mode&07777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	xs, err := lxattrs(src)
	if err != nil {
		return err
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

// file copies a regular file's data: a reflink where the filesystem can,
// else copy_file_range (which io.Copy uses between two files).
func (c *copier) file(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if c.clone {
		err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
		if err == nil {
			return out.Close()
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EINVAL) &&
			!errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.ENOSYS) {
			out.Close()
			return &os.PathError{Op: "clone", Path: dst, Err: err}
		}
		c.clone = false
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
