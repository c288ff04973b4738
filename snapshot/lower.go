package snapshot

import (
	"syscall"

	"os"

	"golang.org/x/sys/unix"
)

// lowerCheck answers whether a lower dir has a directory at a path,
// resolving the path inside each lower.
type lowerCheck struct {
	dirs  []string
	roots []*os.Root
}

func (lc *lowerCheck) root(i int) *os.Root {
	if lc.roots == nil {
		lc.roots = make([]*os.Root, len(lc.dirs))
	}
	if lc.roots[i] == nil {
		r, err := os.OpenRoot(lc.dirs[i])
		if err != nil {
			return nil
		}
		lc.roots[i] = r
	}
	return lc.roots[i]
}

func (lc *lowerCheck) hasDir(rel string) bool {
	for i := range lc.dirs {
		r := lc.root(i)
		if r == nil {
			continue
		}
		if fi, err := r.Lstat(rel); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func (lc *lowerCheck) close() {
	for _, r := range lc.roots {
		if r != nil {
			r.Close()
		}
	}
}

// sameDir reports whether the topmost lower has rel as a directory with
// the same mode, owner and modification time as st.
func (lc *lowerCheck) sameDir(rel string, st *unix.Stat_t) bool {
	for i := range lc.dirs {
		r := lc.root(i)
		if r == nil {
			continue
		}
		fi, err := r.Lstat(rel)
		if err != nil {
			continue
		}
		lst, ok := fi.Sys().(*syscall.Stat_t)
		return ok && fi.IsDir() && lst.Mode == st.Mode && lst.Uid == st.Uid && lst.Gid == st.Gid &&
			lst.Mtim.Sec == st.Mtim.Sec && lst.Mtim.Nsec == st.Mtim.Nsec
	}
	return false
}
