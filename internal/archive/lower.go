package archive

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// DirLowers returns the LowerDirs of layer trees on disk (overlay lower
// dirs), nearest first. Each path is resolved inside its tree. Close the
// result when done.
func DirLowers(dirs []string) *Lowers {
	return &Lowers{dirs: dirs, roots: make([]*os.Root, len(dirs))}
}

// Lowers is DirLowers' LowerDirs.
type Lowers struct {
	dirs  []string
	roots []*os.Root
}

var _ LowerDirs = (*Lowers)(nil)

func (l *Lowers) root(i int) *os.Root {
	if l.roots[i] == nil {
		r, err := os.OpenRoot(l.dirs[i])
		if err != nil {
			return nil // a lower that is gone holds nothing
		}
		l.roots[i] = r
	}
	return l.roots[i]
}

// Dir implements LowerDirs.
func (l *Lowers) Dir(rel string) (*DirAttrs, error) {
	for i := range l.dirs {
		r := l.root(i)
		if r == nil {
			continue
		}
		fi, err := r.Lstat(rel)
		if err != nil {
			continue // not in this lower
		}
		if !fi.IsDir() {
			return nil, nil
		}
		f, err := openDirIn(r, rel)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return nil, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
		}
		xs, err := fxattrs(f)
		if err != nil {
			return nil, err
		}
		return &DirAttrs{Uid: st.Uid, Gid: st.Gid, Mode: st.Mode & 07777, Xattrs: xs, ModTime: time.Unix(st.Mtim.Unix())}, nil
	}
	return nil, nil
}

// Close releases the trees.
func (l *Lowers) Close() error {
	for _, r := range l.roots {
		if r != nil {
			r.Close()
		}
	}
	return nil
}
