package snapshot

import (
	"syscall"

	"os"

	"golang.org/x/sys/unix"
)

// lowerCheck answers what the lower dirs hold at a path, resolving the
// path inside each lower.
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

// hidesEntries reports whether the lowers' merged view has anything in
// directory rel, which an opaque upper dir would hide: lowers are searched
// top first, whiteouts hide nothing new, and a lower where rel is opaque
// or not a directory ends the search.
func (lc *lowerCheck) hidesEntries(rel string) bool {
	for i := range lc.dirs {
		r := lc.root(i)
		if r == nil {
			continue
		}
		fi, err := r.Lstat(rel)
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			return false
		}
		f, err := r.Open(rel)
		if err != nil {
			return true // unreadable: assume something is there
		}
		ents, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return true
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				return true
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				continue // a whiteout: hides a lower entry, is none itself
			}
			return true
		}
		if o, err := isOpaque(lc.dirs[i] + "/" + rel); err != nil || o {
			return err != nil
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
