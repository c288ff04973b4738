package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a waiting lock asks again.
const lockPoll = 50 * time.Millisecond

// LockShared takes the root lock shared, as a build does: many builds run
// at once, and Prune waits until they are done, so it never frees what a
// running build is about to record. It waits until ctx is done and returns
// the function that releases the lock.
func (r *Root) LockShared(ctx context.Context) (unlock func(), err error) {
	return r.lock(ctx, unix.LOCK_SH)
}

// LockExclusive takes the root lock exclusive, as Prune does: no build runs
// while it is held.
func (r *Root) LockExclusive(ctx context.Context) (unlock func(), err error) {
	return r.lock(ctx, unix.LOCK_EX)
}

// lock takes the flock on <root>/lock. It asks without blocking and polls,
// so that waiting honours ctx (a blocked flock(2) cannot be cancelled).
func (r *Root) lock(ctx context.Context, how int) (func(), error) {
	for {
		unlock, err := r.tryLock(how)
		if err == nil {
			return unlock, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock root %s: %w", r.Dir, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

func (r *Root) tryLockExclusive() (func(), error) { return r.tryLock(unix.LOCK_EX) }

// tryLock takes the lock if it is free now; it returns an error wrapping
// unix.EWOULDBLOCK if another process holds it. Each call opens the file
// afresh, so the lock also excludes other goroutines of this process.
func (r *Root) tryLock(how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.Dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock root: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock root %s: %w", r.Dir, err)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}
