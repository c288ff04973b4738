package fscopy

import (
	"bytes"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// reuseMax is the largest file reuseFile compares: above it, reading two
// files to compare them costs about what writing one does.
const reuseMax = 1 << 20

// reuseDir opens rel in Options.Reuse, for a directory this copy has just
// created in the upper dir; nil when there is none (or it is not a
// directory: os.Root keeps every lookup inside Reuse).
func (t *tree) reuseDir(rel string) *os.File {
	if t.reuse == nil {
		return nil
	}
	f, err := openDirIn(t.reuse, rel)
	if err != nil {
		return nil
	}
	return f
}

// openReuseDir opens the directory name in parent (a directory of
// Options.Reuse), not following a symbolic link; nil when there is none.
func openReuseDir(parent *os.File, name string) *os.File {
	fd, err := openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// reuseFile hard-links name, a file this copy is to write in dir (a new
// directory of the upper dir) from source node n with owner uid:gid, mode
// and mtime, from the same name in dir.reuse, if the file there would be
// the same: a regular file of the same size, mode, owner, mtime and
// contents, with no extended attributes, nor any on the source. It
// reports whether it linked. A linked file has no inode of its own: on
// this machine's ext4 without a journal, creating one after recent
// deletes cost 135 µs a file (strace -c of cp -a), a link 10 µs, and a
// rebuild after a one-file change wrote its 180 files again.
//
// The link is what a copy would have written, byte for byte in the
// layer: the tar of an upper dir carries no inode number, link count or
// ctime, and an inode is linked into a copy once at most (c.reused), so
// two files of one copy never share one that their sources did not.
// Committed snapshots are never written to (a later step's change to the
// file is a copy-up into its own upper dir), so the two snapshots
// sharing the inode cannot tell.
func (c *copier) reuseFile(dir *dstDir, name string, n *node, uid, gid int, mode uint32, mtime time.Time) bool {
	if !isReg(&n.st) || n.st.Size > reuseMax {
		return false
	}
	rdir := int(dir.reuse.Fd())
	var st unix.Stat_t
	if lstatAt(rdir, name, &st) != nil || !isReg(&st) || st.Size != n.st.Size ||
		st.Mode&0o7777 != mode || int(st.Uid) != uid || int(st.Gid) != gid || st.Mtim.Nano() != mtime.UnixNano() {
		return false
	}
	id := devIno{uint64(st.Dev), st.Ino}
	if c.reused[id] {
		return false
	}
	if !sameFile(n.dirfd, n.name, rdir, name, n.st.Size) {
		return false
	}
	if unix.Linkat(rdir, name, dir.fd, name, 0) != nil {
		return false
	}
	c.reused[id] = true
	return true
}

// sameFile reports whether the regular files a (in dirfd ad) and b (in
// bd), both of size bytes, have the same contents and neither has an
// extended attribute.
func sameFile(ad int, a string, bd int, b string, size int64) bool {
	fa, err := openat(ad, a, flagRead, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fa)
	fb, err := openat(bd, b, flagRead|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fb)
	for _, fd := range []int{fa, fb} {
		if n, err := unix.Flistxattr(fd, nil); err != nil || n != 0 {
			return false
		}
	}
	// size is at most reuseMax: each is read whole (readSize).
	da, err := readSize(fa, size)
	if err != nil {
		return false
	}
	db, err := readSize(fb, size)
	return err == nil && bytes.Equal(da, db)
}
