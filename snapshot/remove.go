package snapshot

import (
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// removeWorkers bounds the directories removeAll empties at once.
const removeWorkers = 8

// removeAll is os.RemoveAll for a snapshot's tree (a private directory:
// trash, or a snapshot being made), with directories emptied
// concurrently. Each unlink waits on the file system (on a disk mounted
// with discard, for the device), and a layer of many small files has
// many: removing a 50,000-file snapshot one file at a time costs seconds
// of waiting that several workers overlap. Whatever the workers leave
// (an error on the way) is left to os.RemoveAll, which reports it.
func removeAll(path string) error {
	sem := make(chan struct{}, removeWorkers)
	emptyDir(path, sem)
	return os.RemoveAll(path)
}

// emptyDir removes what dir holds, best effort: subdirectories are
// emptied by another goroutine while a worker is free, else in this one.
func emptyDir(dir string, sem chan struct{}) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() { // a symlink to a directory is not one
			_ = unix.Unlink(p)
			continue
		}
		select {
		case sem <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				emptyDir(p, sem)
				_ = unix.Rmdir(p)
				<-sem
			}()
		default:
			emptyDir(p, sem)
			_ = unix.Rmdir(p)
		}
	}
	wg.Wait()
}
