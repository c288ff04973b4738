package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// create makes entry base in directory parent (resolved path prel),
// replacing what is there unless both are directories.
func (x *extractor) create(parent *os.File, prel, base string, hdr *tar.Header, r io.Reader) error {
	rel := path.Join(prel, base)
	pfd := int(parent.Fd())
	x.touch(prel)
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return x.subdirAttrs(parent, rel, base, hdr, true)
	case err == nil:
		if err := x.root.RemoveAll(rel); err != nil {
			return err
		}
	case !errors.Is(err, unix.ENOENT):
		return &os.PathError{Op: "fstatat", Path: rel, Err: err}
	}
	perm := x.perm(hdr)
	uid, gid := x.owner(hdr)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: rel, Err: err}
		}
		return x.subdirAttrs(parent, rel, base, hdr, false)
	case tar.TypeReg, tar.TypeGNUSparse: // the reader turns old TypeRegA into TypeReg
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: rel, Err: err}
		}
		f := os.NewFile(uintptr(fd), rel)
		err = x.writeFile(f, r, hdr, uid, gid, perm)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlink", Path: rel, Err: err}
		}
		if x.opt.Owners {
			if err := x.chown(unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
				return &os.PathError{Op: "lchown", Path: rel, Err: err}
			}
		}
		if err := x.setXattrsAt(pfd, base, rel, hdr); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return &os.PathError{Op: "mknod", Path: rel, Err: err}
		}
		if x.opt.Owners {
			if err := x.chown(unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
				return &os.PathError{Op: "lchown", Path: rel, Err: err}
			}
		}
		// After chown, which clears setuid and setgid; base is the node
		// just made, not a symlink.
		if err := unix.Fchmodat(pfd, base, perm, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: rel, Err: err}
		}
		if err := x.setXattrsAt(pfd, base, rel, hdr); err != nil {
			return err
		}
	}
	if err := setTimesAt(pfd, base, rel, x.modTime(hdr.ModTime)); err != nil {
		return err
	}
	x.wrote(rel)
	return nil
}

func (x *extractor) wrote(rel string) {
	if x.opt.Whiteouts == WhiteoutApply {
		x.written[rel] = true
	}
}

// perm returns the permission bits an entry gets.
func (x *extractor) perm(hdr *tar.Header) uint32 {
	perm := uint32(hdr.Mode & 07777)
	if x.opt.StripSetuid && hdr.Typeflag != tar.TypeDir {
		perm &^= unix.S_ISUID | unix.S_ISGID
	}
	return perm
}

func (x *extractor) owner(hdr *tar.Header) (int, int) {
	if x.opt.MapOwner != nil {
		return x.opt.MapOwner(hdr.Uid, hdr.Gid)
	}
	return hdr.Uid, hdr.Gid
}

// chown filters the error of a chown: without privileges (a developer's
// test run) EPERM leaves the file to the running user.
func (x *extractor) chown(err error) error {
	if !x.chownOK && errors.Is(err, unix.EPERM) {
		return nil
	}
	return err
}

func (x *extractor) modTime(t time.Time) time.Time {
	if x.opt.ModTime != nil {
		return x.opt.ModTime(t)
	}
	return t
}

func (x *extractor) writeFile(f *os.File, r io.Reader, hdr *tar.Header, uid, gid int, perm uint32) error {
	if x.opt.MaxBytes > 0 {
		r = io.LimitReader(r, x.opt.MaxBytes-x.bytes+1)
	}
	n, err := copySparse(f, r)
	x.bytes += n
	if err != nil {
		return err
	}
	if x.opt.MaxBytes > 0 && x.bytes > x.opt.MaxBytes {
		return ErrTooLarge
	}
	if x.opt.Owners {
		if err := x.chown(f.Chown(uid, gid)); err != nil {
			return err
		}
	}
	// After chown, which clears setuid and setgid.
	if err := unix.Fchmod(int(f.Fd()), perm); err != nil {
		return &os.PathError{Op: "fchmod", Path: f.Name(), Err: err}
	}
	for k, v := range x.xattrs(hdr) {
		if err := unix.Fsetxattr(int(f.Fd()), k, []byte(v), 0); err != nil && x.opt.Xattrs == XattrsSet {
			return &os.PathError{Op: "fsetxattr " + k, Path: f.Name(), Err: err}
		}
	}
	return nil
}

// copySparse copies r to the new file f, leaving holes where r has whole
// blocks of zeros: a sparse entry's holes stay holes instead of filling
// the disk.
func copySparse(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 64*1024)
	var size int64
	hole := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			size += int64(n)
			if allZero(buf[:n]) {
				if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
					return size, err
				}
				hole = true
			} else if _, err := f.Write(buf[:n]); err != nil {
				return size, err
			} else {
				hole = false
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return size, err
		}
	}
	if hole {
		return size, f.Truncate(size) // the file ends in a hole
	}
	return size, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// subdirAttrs sets the attributes of directory base in parent from hdr.
func (x *extractor) subdirAttrs(parent *os.File, rel, base string, hdr *tar.Header, existed bool) error {
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	return x.dirAttrs(d, rel, hdr, existed)
}

// dirAttrs gives directory d the owner, mode and xattrs of hdr, and
// records its mtime. With XattrsSet, a directory that existed loses xattrs
// hdr lacks, so it ends up as an upper dir made from hdr would.
func (x *extractor) dirAttrs(d *os.File, rel string, hdr *tar.Header, existed bool) error {
	fd := int(d.Fd())
	if x.opt.Owners {
		if err := x.chown(d.Chown(x.owner(hdr))); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, x.perm(hdr)); err != nil {
		return &os.PathError{Op: "fchmod", Path: rel, Err: err}
	}
	want := x.xattrs(hdr)
	if existed && x.opt.Xattrs == XattrsSet {
		have, err := fxattrs(d)
		if err != nil {
			return err
		}
		for k := range have {
			if _, ok := want[k]; !ok {
				if err := unix.Fremovexattr(fd, k); err != nil && !errors.Is(err, unix.ENODATA) {
					return &os.PathError{Op: "fremovexattr " + k, Path: rel, Err: err}
				}
			}
		}
	}
	for k, v := range want {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil && x.opt.Xattrs == XattrsSet {
			return &os.PathError{Op: "fsetxattr " + k, Path: rel, Err: err}
		}
	}
	x.dirTimes[rel] = x.modTime(hdr.ModTime)
	x.wrote(rel)
	return nil
}

// link makes base in parent a hard link to the entry hdr.Linkname names,
// resolved inside the root.
func (x *extractor) link(parent *os.File, prel, base string, hdr *tar.Header) error {
	rel := path.Join(prel, base)
	target, err := CleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	if target == "" {
		return fmt.Errorf("link target %q: the root", hdr.Linkname)
	}
	tdir, tbase := path.Split(target)
	td, trel, err := x.resolveDir(strings.TrimSuffix(tdir, "/"))
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	defer td.Close()
	var tst, st unix.Stat_t
	if err := unix.Fstatat(int(td.Fd()), tbase, &tst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, &os.PathError{Op: "lstat", Path: path.Join(trel, tbase), Err: err})
	}
	x.touch(prel)
	err = unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Dev == tst.Dev && st.Ino == tst.Ino:
		x.wrote(rel)
		return nil // already that file
	case err == nil:
		if err := x.root.RemoveAll(rel); err != nil {
			return err
		}
	case !errors.Is(err, unix.ENOENT):
		return &os.PathError{Op: "fstatat", Path: rel, Err: err}
	}
	if err := unix.Linkat(int(td.Fd()), tbase, int(parent.Fd()), base, 0); err != nil {
		return &os.PathError{Op: "link", Path: rel, Err: err}
	}
	x.wrote(rel)
	return nil
}

func setTimesAt(dirfd int, base, rel string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if t.Before(time.Unix(-1<<33, 0)) || t.After(time.Unix(1<<33, 0)) {
		ts = unix.Timespec{Sec: t.Unix()} // beyond what UnixNano holds
	}
	if err := unix.UtimesNanoAt(dirfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: rel, Err: err}
	}
	return nil
}

// xattrs returns the xattrs of hdr Extract writes: none with XattrsSkip,
// never overlay's own (a layer that set them could redirect lookups), and
// no SELinux label where best effort (the host's policy labels files).
func (x *extractor) xattrs(hdr *tar.Header) map[string]string {
	if x.opt.Xattrs == XattrsSkip {
		return nil
	}
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok || name == "" || !LayerXattr(name) {
			continue
		}
		if x.opt.Xattrs == XattrsBestEffort && name == "security.selinux" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out
}

// setXattrsAt sets hdr's xattrs on base in dirfd without following it:
// through /proc/self/fd, as there is no lsetxattrat.
func (x *extractor) setXattrsAt(dirfd int, base, rel string, hdr *tar.Header) error {
	xs := x.xattrs(hdr)
	if len(xs) == 0 {
		return nil
	}
	p := fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, base)
	for k, v := range xs {
		if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil && x.opt.Xattrs == XattrsSet {
			return &os.PathError{Op: "lsetxattr " + k, Path: rel, Err: err}
		}
	}
	return nil
}
