package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockRoot takes the root-wide lock: shared for builds (many at once),
// exclusive for prune, so prune never frees what a running build is about
// to record. It returns the unlock function.
func lockRoot(root string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock root: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock root: %w", err)
	}
	return func() { f.Close() }, nil
}
