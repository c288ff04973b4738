package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// scratchPrefix names the per-process scratch directories in tmp/:
// bld-<pid>-<random>. scratchLock is the file in each that its owner keeps
// flock'ed while it lives; a free lock means the owner is dead.
const (
	scratchPrefix = "bld-"
	scratchLock   = "lock"
	// SecretsDir is the name of the subdirectory of a scratch directory
	// (at any depth) where secret files go: recovery removes every file
	// below a directory of that name before anything else.
	SecretsDir = "secrets"
)

// Scratch is one process's scratch directory under the root's tmp/. Every
// temporary path of a build (step dirs, secrets, mount points, the
// sandbox's scratch, network namespace files) lives below Dir, so that if
// the process dies, the next Open or Prune finds the lock free and undoes
// all of it. Close removes it.
type Scratch struct {
	// Dir is the scratch directory, absolute.
	Dir string

	lock *os.File
	once sync.Once
	err  error
}

// NewScratch makes this process's scratch directory,
// <root>/tmp/bld-<pid>-<random>, and holds its lock until Close. The
// directory is made under a name recovery ignores (.new-…) and renamed once
// locked, so a concurrent recovery never sees it unlocked. While it is
// made, NewScratch holds the root lock shared: a process killed between
// the mkdir and the lock leaves a .new- directory with no lock, and the
// next recovery that holds the root lock exclusive knows no maker is alive
// and removes it (before, it waited a minute, and a soak of kill -9 found
// it left).
func (r *Root) NewScratch(ctx context.Context) (*Scratch, error) {
	unlock, err := r.LockShared(ctx)
	if err != nil {
		return nil, fmt.Errorf("scratch: %w", err)
	}
	defer unlock()
	tmp := r.TmpDir()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("scratch: %w", err)
	}
	pending, err := os.MkdirTemp(tmp, ".new-")
	if err != nil {
		return nil, fmt.Errorf("scratch: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(pending, scratchLock), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(pending) // nothing is mounted there yet
		return nil, fmt.Errorf("scratch: %w", err)
	}
	dir := filepath.Join(tmp, fmt.Sprintf("%s%d-%s", scratchPrefix, os.Getpid(), strings.TrimPrefix(filepath.Base(pending), ".new-")))
	if err := os.Rename(pending, dir); err != nil {
		f.Close()
		os.RemoveAll(pending)
		return nil, fmt.Errorf("scratch: %w", err)
	}
	return &Scratch{Dir: dir, lock: f}, nil
}

// Close undoes everything left in the scratch directory (secrets, mounts,
// files), removes it and releases its lock. Calling it again returns the
// first result.
func (s *Scratch) Close() error {
	s.once.Do(func() {
		s.err = recoverDir(s.Dir)
		s.lock.Close()
	})
	return s.err
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// cleanTmp recovers the scratch left in tmp/ by dead processes. A
// per-process directory (bld-<pid>-…) is recovered when its lock is free,
// which works while other builds run. Any other directory (from older
// versions, or a crash between MkdirTemp and the lock) only when exclusive,
// that is, when the caller holds the root lock exclusive and no build runs.
// Plain files in tmp/ are the store's, which removes its own dead ones.
func (r *Root) cleanTmp(exclusive bool) error {
	tmp := r.TmpDir()
	ents, err := os.ReadDir(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean %s: %w", tmp, err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() { // ReadDir does not follow symlinks: a link is no dir
			continue
		}
		p := filepath.Join(tmp, e.Name())
		if strings.HasPrefix(e.Name(), scratchPrefix) {
			f, err := os.OpenFile(filepath.Join(p, scratchLock), os.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
			if err == nil {
				err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
				if errors.Is(err, unix.EWOULDBLOCK) {
					f.Close()
					continue // its owner is alive
				}
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				if f != nil {
					f.Close()
				}
				errs = append(errs, fmt.Errorf("clean %s: %w", p, err))
				continue
			}
			// Holding the dead owner's lock keeps other recoveries out.
			if err := recoverDir(p); err != nil {
				errs = append(errs, err)
			}
			if f != nil {
				f.Close()
			}
			continue
		}
		if !exclusive {
			continue
		}
		// Here the caller holds the root lock exclusive, and NewScratch
		// holds it shared while it makes a .new- directory: every
		// directory left is a dead process's, locked or not.
		if err := recoverDir(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recoverDir undoes a scratch directory, in the order that leaks least:
// secret files first, then every mount below it (deepest first, lazily as
// a last resort), then the directory. A directory that is still mounted
// after that is kept: removing through a mount could delete what is
// mounted (a bind mount of the build context, a snapshot).
func recoverDir(dir string) error {
	// Nothing mounted at or below dir (as a rule, a build's own scratch
	// as it ends): one read of mountinfo, not three. The secrets still go
	// first.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		if points, err := mount.Points(real); err == nil && len(points) == 0 {
			var errs []error
			if err := removeSecretsBelow(dir, nil); err != nil {
				errs = append(errs, err)
			}
			if err := os.RemoveAll(dir); err != nil {
				errs = append(errs, fmt.Errorf("clean %s: %w", dir, err))
			}
			return errors.Join(errs...)
		}
	}
	var errs []error
	if err := removeSecrets(dir); err != nil {
		errs = append(errs, err)
	}
	if err := mount.UnmountAll(dir); err != nil {
		errs = append(errs, err)
	}
	points, err := mount.Points(dir)
	if err != nil || len(points) > 0 {
		return errors.Join(append(errs, fmt.Errorf("clean %s: still mounted: %v %w", dir, points, err))...)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("clean %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// removeSecrets removes the secret files under dir: every file below a
// directory named SecretsDir, and every file named "secret". It does not
// follow symlinks (WalkDir does not) and does not descend into mount
// points, so it never deletes through a mount.
func removeSecrets(dir string) error {
	points, err := mount.Points(dir)
	if err != nil {
		return fmt.Errorf("remove secrets in %s: %w", dir, err)
	}
	mounted := map[string]bool{}
	for _, p := range points {
		mounted[p] = true
	}
	return removeSecretsBelow(dir, mounted)
}

// removeSecretsBelow is removeSecrets with the mount points below dir
// known (none: nil).
func removeSecretsBelow(dir string, mounted map[string]bool) error {
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		if mounted[p] && p != dir {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a file bind-mounted over: the source is what we remove
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		secret := d.Name() == "secret" || strings.HasPrefix(rel, SecretsDir+"/") || strings.Contains(rel, "/"+SecretsDir+"/")
		if secret {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove secrets in %s: %w", dir, errors.Join(errs...))
	}
	return nil
}

// scratchLive reports whether the owner of scratch directory dir holds its
// lock. A directory without a lock file has no live owner.
func scratchLive(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = flock(f, unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}
