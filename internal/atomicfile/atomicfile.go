// Package atomicfile owns bld's one way to replace a file so that readers,
// and the file system after a crash, see the old content or the new one,
// never a part: write a temporary file, fsync it, rename it over the
// target, fsync the target's directory.
//
// File is the streaming form (Create, Write, Commit or Abort); WriteFile
// writes a byte slice in one call, WriteFileKeepable does without the
// directory fsync, for records a crash may lose but must not tear, and
// WriteFileUnsynced without any fsync, for what a crash discards anyway. CreateTemp makes the temporary file in
// another directory (of the same file system) and names the target only at
// CommitTo, for content stores that learn a file's name (its digest) only
// once it is written.
//
// Hand-written: the well-kept libraries for this (google/renameio,
// natefinch/atomic) either skip the directory fsync or do not let the
// caller choose the temporary directory, which the store needs for its
// crash clean-up; the whole of it is a few dozen lines.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a file being written that appears at its path only on Commit.
// The caller must Commit or Abort it; Abort after Commit is a no-op, so
// `defer f.Abort()` is the usual pattern. A File is not safe for concurrent
// use.
type File struct {
	f         *os.File
	path      string // the target; "" until CommitTo for CreateTemp
	perm      fs.FileMode
	done      bool
	noSync    bool // CreateOutput: all or nothing, not durable
	noDirSync bool // WriteFileKeepable: content synced, the rename not
}

// Create starts writing path: a temporary file ".<base>.tmp-*" next to it.
// perm is the mode the file has once committed (the umask does not apply).
func Create(path string, perm fs.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: path, perm: perm}, nil
}

// CreateOutput is Create for a file a user asked bld to write (an OCI or
// docker archive, a rootfs tar): it still appears whole or not at all, but
// Commit does not fsync it. Such a file is not bld's state (a crash costs
// a rebuild, not a corrupt store), and syncing a 1 GiB export cost 0.5 s
// to 0.8 s here, for nothing docker or BuildKit do either.
func CreateOutput(path string, perm fs.FileMode) (*File, error) {
	f, err := Create(path, perm)
	if err == nil {
		f.noSync = true
	}
	return f, err
}

// CreateTemp starts writing a file whose path is given later, to CommitTo:
// the temporary file is made in dir (os.CreateTemp's pattern) and must be
// on the same file system as the target.
func CreateTemp(dir, pattern string, perm fs.FileMode) (*File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &File{f: f, perm: perm}, nil
}

// Write implements io.Writer.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, errors.New("write: file is committed or aborted")
	}
	return f.f.Write(p)
}

// Name returns the path of the temporary file.
func (f *File) Name() string { return f.f.Name() }

// Fd returns the temporary file's descriptor, for a lock held while it is
// written; it is closed by Commit or Abort.
func (f *File) Fd() uintptr { return f.f.Fd() }

// Stat returns the FileInfo of the temporary file.
func (f *File) Stat() (fs.FileInfo, error) { return f.f.Stat() }

// Commit makes what was written the content of the path given to Create.
func (f *File) Commit() error {
	if f.path == "" {
		return errors.New("commit: no target path: use CommitTo")
	}
	return f.CommitTo(f.path)
}

// CommitTo makes what was written the content of path: it syncs the file,
// sets its mode, renames it over path and syncs path's directory. On error
// the temporary file is removed and path keeps its old content. The File
// is finished either way.
func (f *File) CommitTo(path string) (err error) {
	if f.done {
		return errors.New("commit: file is committed or aborted")
	}
	f.done = true
	tmp := f.f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err := f.f.Chmod(f.perm); err != nil {
		f.f.Close()
		return err
	}
	if !f.noSync {
		if err := f.f.Sync(); err != nil {
			f.f.Close()
			return err
		}
	}
	// Rename before Close: a lock the caller holds on the descriptor
	// (the store's temporary files are flocked, so another process's
	// clean-up leaves them alone) must last until the name is gone.
	if err := os.Rename(tmp, path); err != nil {
		f.f.Close()
		return err
	}
	if err := f.f.Close(); err != nil {
		return err
	}
	if f.noSync || f.noDirSync {
		return nil
	}
	return SyncDir(filepath.Dir(path))
}

// Abort drops what was written and removes the temporary file. It is a
// no-op after Commit or a first Abort.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	err := f.f.Close()
	return errors.Join(err, os.Remove(f.f.Name()))
}

// WriteFile replaces path with data, atomically and durably, with mode
// perm.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, func(*File) {})
}

// WriteFileKeepable is WriteFile for a file that may be lost in a crash
// but must never be torn: the content is synced before the rename, the
// directory is not. After a crash the path has the old content (or none)
// or the new, whole. For records whose loss costs a recomputation (a cache
// record: a miss) and which nothing durable refers to; one fsync less each.
func WriteFileKeepable(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, func(f *File) { f.noDirSync = true })
}

// WriteFileUnsynced is WriteFile without any fsync, as CreateOutput: the
// path has the old content or the new, whole, while the system runs; a
// crash may leave it old, missing or torn. For hints and records that a
// crash discards anyway (an active snapshot's record, a cache scope).
func WriteFileUnsynced(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, func(f *File) { f.noSync = true })
}

func writeFile(path string, data []byte, perm fs.FileMode, set func(*File)) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	set(f)
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir fsyncs the directory dir, which makes the entries created,
// renamed or removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
