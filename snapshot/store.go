package snapshot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bldbuild/bld/internal/atomicfile"
	"golang.org/x/sys/unix"
)

const (
	overlayDriver = "overlayfs"
	nativeDriver  = "native"
)

// store keeps the metadata both snapshotters share. On disk, under root:
//
//	lock                  flock'ed around every metadata change; holds a generation counter
//	driver                "overlayfs" or "native": a root keeps the kind it was made with
//	metadata/<sha>.json   one record per snapshot, named by the sha256 of its key or name
//	snapshots/<id>/       the snapshot's directories (fs, and work for overlayfs)
//	tmp/                  scratch: removed snapshots on their way out, probes
//
// A record is written to a temporary file and renamed into place, and each
// change has one rename or unlink as its commit point, so a crash leaves
// either the old or the new state plus garbage that Cleanup removes.
type store struct {
	root   string
	driver string
	self   owner

	// mu protects the fields below and serialises use of lock by this
	// process (flock excludes other processes and other open files).
	mu   sync.Mutex
	lock *os.File
	gen  uint64             // the generation recs was loaded at
	recs map[string]*record // by name; nil until loaded
	ids  map[string]bool    // ids of every record on disk, stale ones too
}

// record is one snapshot's metadata file.
type record struct {
	Name    string    `json:"name"`
	Parent  string    `json:"parent,omitempty"`
	Kind    string    `json:"kind"`
	ID      string    `json:"id"`
	Lowers  []string  `json:"lowers,omitempty"` // ids of the parent chain, nearest first
	Created time.Time `json:"created"`
	Owner   *owner    `json:"owner,omitempty"` // the process that made an active snapshot or view
	// Copied is, for a native snapshot copied from its parent, a ctime (ns)
	// taken after the copy: an inode changed later has a ctime >= Copied.
	Copied int64 `json:"copied,omitempty"`
}

func (r *record) kind() Kind {
	switch r.Kind {
	case "active":
		return KindActive
	case "view":
		return KindView
	case "committed":
		return KindCommitted
	}
	return 0
}

func (r *record) info() Info {
	return Info{Name: r.Name, Parent: r.Parent, Kind: r.kind(), Created: r.Created}
}

// owner identifies a process across PID reuse.
type owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // start time in clock ticks since boot
}

func (o owner) alive() bool {
	start, err := procStart(o.PID)
	return err == nil && start == o.Start
}

// procStart reads field 22 (starttime) of /proc/<pid>/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

func recordedDriver(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "driver"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

func openStore(root, driver string) (*store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"", "metadata", "snapshots", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, err
		}
	}
	start, err := procStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	s := &store{root: root, driver: driver, self: owner{PID: os.Getpid(), Start: start}, lock: lock}
	// The records are read at their first use, not here: a build that
	// needs no snapshot (a no-op) never reads them on its way (180
	// records took 5 ms of the no-op's 35), and one that does reads them
	// in the clean-up it starts beside itself (state.Open) or at its
	// first step.
	err = s.withFileLock(func() error {
		got, err := recordedDriver(root)
		if err != nil {
			return err
		}
		if got == "" {
			return atomicfile.WriteFile(filepath.Join(root, "driver"), []byte(driver+"\n"), 0o600)
		}
		if got != driver {
			return fmt.Errorf("%s holds %s snapshots, not %s", root, got, driver)
		}
		return nil
	})
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) snapshotDir(id string) string { return filepath.Join(s.root, "snapshots", id) }
func (s *store) fsDir(id string) string       { return filepath.Join(s.root, "snapshots", id, "fs") }
func (s *store) workDir(id string) string     { return filepath.Join(s.root, "snapshots", id, "work") }

func (s *store) recordPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(s.root, "metadata", hex.EncodeToString(sum[:])+".json")
}

// withLock runs fn holding the lock, with recs up to date.
func (s *store) withLock(fn func() error) error {
	return s.withFileLock(func() error {
		return s.loaded(fn)
	})
}

// withFileLock runs fn holding the store's lock (s.mu and the lock
// file's flock), with the records as they are: maybe not loaded.
func (s *store) withFileLock(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := flock(s.lock, unix.LOCK_EX); err != nil {
		return err
	}
	defer flock(s.lock, unix.LOCK_UN)
	return fn()
}

// loaded runs fn, under the store's lock, once the records are this
// generation's.
func (s *store) loaded(fn func() error) error {
	gen, err := s.readGen()
	if err != nil {
		return err
	}
	if s.recs == nil || gen != s.gen {
		if err := s.load(); err != nil {
			s.recs = nil
			return err
		}
		s.gen = gen
	}
	return fn()
}

// mutate is withLock for changes. It bumps the generation before fn
// changes anything, so other processes reload even if this one crashes
// half way; if fn fails, this process reloads too, unless with ErrExists
// or ErrNotFound, which fn returns only before it changes anything (a
// commit whose name a twin committed first, a removal of what is gone):
// reloading reads every record (BenchmarkLoad: 500 in 7–10 ms), and a --no-cache
// rebuild's every commit was such a refusal.
func (s *store) mutate(fn func() error) error {
	return s.withLock(func() error {
		if err := s.writeGen(s.gen + 1); err != nil {
			return err
		}
		s.gen++
		if err := fn(); err != nil {
			if !errors.Is(err, ErrExists) && !errors.Is(err, ErrNotFound) {
				s.recs = nil
			}
			return err
		}
		return nil
	})
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (s *store) readGen() (uint64, error) {
	var b [8]byte
	n, err := s.lock.ReadAt(b[:], 0)
	if n < len(b) {
		return 0, nil // a new lock file
	}
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (s *store) writeGen(g uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], g)
	_, err := s.lock.WriteAt(b[:], 0)
	return err
}

// load reads every record. An active snapshot or view whose id a committed
// record also holds is what a crash between the two steps of Commit leaves:
// the commit happened, so the stale record is hidden (Cleanup deletes it).
func (s *store) load() error {
	dir := filepath.Join(s.root, "metadata")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dirfd)
	buf := make([]byte, 4096)
	recs := map[string]*record{}
	ids := map[string]bool{}
	committed := map[string]bool{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := readRecord(dirfd, dir, e.Name(), &buf)
		if err != nil {
			return err
		}
		if r == nil || filepath.Base(s.recordPath(r.Name)) != e.Name() {
			continue
		}
		recs[r.Name] = r
		ids[r.ID] = true
		if r.kind() == KindCommitted {
			committed[r.ID] = true
		}
	}
	for name, r := range recs {
		if r.kind() != KindCommitted && committed[r.ID] {
			delete(recs, name)
		}
	}
	s.recs, s.ids = recs, ids
	return nil
}

// readRecord reads the record file name in directory dir (open as dirfd)
// into *buf, grown if the record does not fit; nil for one removed
// meanwhile or not a valid record. It uses raw syscalls: load reads every
// record at each start, and os.ReadFile's poller registration and fstat
// cost more than the read itself.
func readRecord(dirfd int, dir, name string, buf *[]byte) (*record, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	defer unix.Close(fd)
	b := *buf
	n := 0
	for {
		if n == len(b) {
			b = append(b, make([]byte, len(b))...)
			*buf = b
		}
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: filepath.Join(dir, name), Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	var r record
	if err := json.Unmarshal(b[:n], &r); err != nil || r.ID == "" || r.kind() == 0 {
		return nil, nil
	}
	return &r, nil
}

// writeRecord writes r's record file. Only a committed snapshot's record
// is synced and renamed into place: an active snapshot or view is
// discarded after a crash anyway (Cleanup removes those of dead
// processes), and one whose record a crash lost or left unreadable is a
// directory no record refers to, which Cleanup removes too. Skipping the
// two fsyncs saves a few milliseconds per RUN step. Nor does an active
// record need the rename: records are read and written only under the
// lock (load, cleanup), so no reader sees one half written but after a
// crash; written in place, it costs no temporary name, chmod or rename.
// A commit writes the committed record afresh, synced.
func (s *store) writeRecord(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if r.kind() == KindCommitted {
		return atomicfile.WriteFile(s.recordPath(r.Name), b, 0o600)
	}
	return os.WriteFile(s.recordPath(r.Name), b, 0o600)
}

// get returns a copy of key's record.
func (s *store) get(key string) (*record, error) {
	var r record
	err := s.withLock(func() error {
		rec, ok := s.recs[key]
		if !ok {
			return ErrNotFound
		}
		r = *rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// create makes the record and directory of a new active snapshot or view.
// init fills the new snapshot directory; it runs under the lock, so it
// must be quick.
func (s *store) create(key, parent string, kind Kind, init func(r *record, dir string) error) (*record, error) {
	var out record
	err := s.mutate(func() error {
		if _, ok := s.recs[key]; ok {
			return ErrExists
		}
		r := &record{Name: key, Parent: parent, Kind: kind.String(), Created: time.Now().UTC(), Owner: &s.self}
		if parent != "" {
			p, ok := s.recs[parent]
			if !ok {
				return fmt.Errorf("parent %q: %w", parent, ErrNotFound)
			}
			if p.kind() != KindCommitted {
				return fmt.Errorf("parent %q is %s, not committed", parent, p.Kind)
			}
			r.Lowers = append([]string{p.ID}, p.Lowers...)
		}
		id, err := s.newID()
		if err != nil {
			return err
		}
		r.ID = id
		dir := s.snapshotDir(id)
		if err := init(r, dir); err != nil {
			return errors.Join(err, os.RemoveAll(dir))
		}
		if err := s.writeRecord(r); err != nil {
			return errors.Join(err, os.RemoveAll(dir))
		}
		s.recs[key] = r
		s.ids[id] = true
		out = *r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// newID makes the directory of a new snapshot and returns its id. Ids are
// small numbers, so that a deep chain of lower dirs stays short.
func (s *store) newID() (string, error) {
	n := 0
	for id := range s.ids {
		if v, err := strconv.Atoi(id); err == nil && v > n {
			n = v
		}
	}
	for {
		n++
		id := strconv.Itoa(n)
		err := os.Mkdir(s.snapshotDir(id), 0o700)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
}

// update rewrites key's record after fn changes it.
func (s *store) update(key string, fn func(r *record)) error {
	return s.mutate(func() error {
		rec, ok := s.recs[key]
		if !ok {
			return ErrNotFound
		}
		r := *rec
		fn(&r)
		if err := s.writeRecord(&r); err != nil {
			return err
		}
		s.recs[key] = &r
		return nil
	})
}

func (s *store) commit(name, key string) error {
	return s.mutate(func() error {
		rec, ok := s.recs[key]
		if !ok {
			return ErrNotFound
		}
		if rec.kind() != KindActive {
			return fmt.Errorf("snapshot %q is %s, not active", key, rec.Kind)
		}
		if _, ok := s.recs[name]; ok {
			return ErrExists
		}
		r := *rec
		r.Name, r.Kind, r.Owner = name, KindCommitted.String(), nil
		// The rename of the new record is the commit point; a crash before
		// the old record is gone leaves a stale record load ignores.
		if err := s.writeRecord(&r); err != nil {
			return err
		}
		delete(s.recs, key)
		s.recs[name] = &r
		if err := os.Remove(s.recordPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// remove deletes key's record and moves its directory to tmp; the caller
// deletes the returned directory ("" if none) without holding the lock.
func (s *store) remove(key string) (string, error) {
	var trash string
	err := s.mutate(func() error {
		rec, ok := s.recs[key]
		if !ok {
			return ErrNotFound
		}
		if rec.kind() == KindCommitted {
			var children []string
			for _, r := range s.recs {
				if r.Parent == key {
					children = append(children, r.Name)
				}
			}
			if len(children) > 0 {
				slices.Sort(children)
				return fmt.Errorf("snapshot %q is the parent of %q", key, children)
			}
		}
		if err := os.Remove(s.recordPath(key)); err != nil {
			return err
		}
		delete(s.recs, key)
		for _, r := range s.recs {
			if r.ID == rec.ID {
				return nil
			}
		}
		delete(s.ids, rec.ID)
		var err error
		trash, err = s.toTrash(rec.ID)
		return err
	})
	return trash, err
}

// toTrash renames a snapshot directory into tmp, as tmp/trash-<id>-<hex>,
// freeing its id at once, and returns the new path ("" when the directory
// is gone already). Renamed straight there, not into a trash directory
// made for it: one directory fewer to make and remove per removed
// snapshot, and on an ext4 without a journal (this machine's) each new
// inode is found by skipping every inode of its group deleted in the last
// seconds, which a build's steps make many of.
func (s *store) toTrash(id string) (string, error) {
	for {
		trash := filepath.Join(s.root, "tmp", "trash-"+id+"-"+randomHex(4))
		// A plain rename (RENAME_NOREPLACE is not on every file
		// system): it replaces only an empty directory of the same
		// name, which is trash as well.
		err := os.Rename(s.snapshotDir(id), trash)
		switch {
		case err == nil:
			return trash, nil
		case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
			continue // a name taken already: another
		case errors.Is(err, fs.ErrNotExist):
			if _, serr := os.Lstat(s.snapshotDir(id)); errors.Is(serr, fs.ErrNotExist) {
				return "", nil
			}
		}
		return "", err
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *store) walk(ctx context.Context, fn func(Info) error) error {
	var infos []Info
	err := s.withLock(func() error {
		for _, r := range s.recs {
			infos = append(infos, r.info())
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// usage sums the blocks of the inodes under the snapshot's directory. An
// inode with several links counts for the share of them found here: once
// when they all are (a hard link within the snapshot), half when the
// other is in another snapshot (a COPY links the files it would have
// written identically from the previous run's snapshot,
// fscopy.Options.Reuse), so the snapshots' sizes add up to the disk used.
func (s *store) usage(ctx context.Context, key string) (int64, error) {
	r, err := s.get(key)
	if err != nil {
		return 0, err
	}
	type sharedInode struct {
		bytes int64
		links uint64 // in all
		here  uint64 // found under this snapshot
	}
	shared := map[fileID]*sharedInode{}
	var total int64
	err = filepath.WalkDir(s.snapshotDir(r.ID), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			sh := shared[idOf(&st)]
			if sh == nil {
				sh = &sharedInode{bytes: st.Blocks * 512, links: uint64(st.Nlink)}
				shared[idOf(&st)] = sh
			}
			sh.here++
			return nil
		}
		total += st.Blocks * 512
		return nil
	})
	for _, sh := range shared {
		total += sh.bytes * int64(min(sh.here, sh.links)) / int64(sh.links)
	}
	return total, err
}
