package fscopy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// checksumVersion starts every preimage; bump it when the format changes.
const checksumVersion = "bld copy checksum v1\n"

// racyWindow is how old a file's ctime must be for its digest to be put in
// a StatCache: timestamps are coarse (the kernel's clock tick), so a file
// written again within the window could keep its stat.
const racyWindow = time.Second

// clock is time.Now; tests move it forward to age files past racyWindow
// without sleeping (a file's ctime cannot be set).
var clock = time.Now

// StatCache remembers the content digest (sha256 of the bytes) of files by
// absolute host path, valid while their stat (size, mtime, inode, ctime)
// is unchanged. fi.Sys() is a *syscall.Stat_t. Implementations must be safe
// for concurrent use.
type StatCache interface {
	Get(path string, fi fs.FileInfo) (v1.Hash, bool)
	Put(path string, fi fs.FileInfo, h v1.Hash)
}

// Checksum is the content digest of what Copy would read for these
// sources with these options (selection: wildcards, .dockerignore,
// --exclude, --parents): for every selected entry, in walk order (items in
// order, names sorted), its path, type, mode (setuid, setgid and sticky
// included), owner (0:0 for the build context), size, link target, hard
// link, and the sha256 of its contents; never mtimes. It is the input of
// the cache key of a COPY; the destination, --chown and --chmod are not in
// it (they are in the instruction). A URL adds its --checksum, or the
// digest of its body, downloaded. Files whose stat matches an entry of sc
// are not read (nil sc: every file is read). Errors are Copy's.
func Checksum(ctx context.Context, src Source, sources []string, opt Options, sc StatCache) (v1.Hash, error) {
	sel, err := selectAll(ctx, src, sources, &opt)
	if err != nil {
		return v1.Hash{}, err
	}
	defer sel.close()
	sr, items := sel.sr, sel.items
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	s := &summer{ctx: gctx, g: g, dir: src.Dir, ctxSrc: src.IsContext, sc: sc, links: map[devIno]string{}}
	w := newWalker(gctx, src, sel.pm, s)
	err = func() error {
		for _, it := range items {
			if it.url != "" {
				if err := s.url(gctx, it, &opt); err != nil {
					return err
				}
				continue
			}
			clear(s.links)
			s.add(fmt.Sprintf("item %q %q %q\n", it.match, it.name, it.sub))
			if err := walkItem(w, sr, it, opt.command(), src.IsContext); err != nil {
				return err
			}
		}
		return nil
	}()
	if err = firstErr(ctx, err, g.Wait()); err != nil {
		return v1.Hash{}, err
	}
	h := sha256.New()
	io.WriteString(h, checksumVersion)
	for i, r := range s.recs {
		io.WriteString(h, r)
		if d := s.sums[i]; d != nil {
			var line [len("sha256:") + 64 + 1]byte // "sha256:%x\n"
			n := copy(line[:], "sha256:")
			hex.Encode(line[n:], d[:])
			line[len(line)-1] = '\n'
			h.Write(line[:])
		}
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, nil
}

// summer is the visitor of Checksum: it records entries in order and hashes
// file contents on a worker pool.
type summer struct {
	ctx    context.Context
	g      *errgroup.Group
	dir    string
	ctxSrc bool
	sc     StatCache
	links  map[devIno]string
	recs   []string
	sums   []*[32]byte // content digests, by record; nil for none
}

func (s *summer) add(rec string) int {
	s.recs = append(s.recs, rec)
	s.sums = append(s.sums, nil)
	return len(s.recs) - 1
}

func (s *summer) record(n *node) int {
	uid, gid := n.st.Uid, n.st.Gid
	if s.ctxSrc {
		uid, gid = 0, 0
	}
	typ := n.st.Mode & unix.S_IFMT
	var size int64
	if typ == unix.S_IFREG {
		size = n.st.Size
	}
	var dev uint64
	if typ == unix.S_IFCHR || typ == unix.S_IFBLK {
		dev = n.st.Rdev
	}
	return s.add(recordLine(n.rel, typ>>12, n.st.Mode&0o7777, uid, gid, size, dev, n.link))
}

// recordLine is fmt.Sprintf("%q %o %o %d:%d %d %d %q\n", ...) without fmt's
// cost, once per entry of every checksummed tree (TestRecordLine).
func recordLine(rel string, typ, mode, uid, gid uint32, size int64, dev uint64, link string) string {
	b := make([]byte, 0, len(rel)+len(link)+64)
	b = strconv.AppendQuote(b, rel)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(typ), 8)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(mode), 8)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(uid), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(gid), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, size, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, dev, 10)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, link)
	b = append(b, '\n')
	return string(b)
}

func (s *summer) enter(n *node) error { s.record(n); return nil }
func (s *summer) leave(*node) error   { return nil }

func (s *summer) leaf(n *node) error {
	i := s.record(n)
	if !isReg(&n.st) {
		return nil
	}
	if n.st.Nlink > 1 {
		key := devIno{uint64(n.st.Dev), n.st.Ino}
		if first, ok := s.links[key]; ok {
			s.recs[i] += fmt.Sprintf("link %q\n", first)
			return nil
		}
		s.links[key] = n.rel
	}
	abs := filepath.Join(s.dir, filepath.FromSlash(n.srel))
	fi := newStatInfo(n.name, &n.st)
	if s.sc != nil {
		if h, ok := s.sc.Get(abs, fi); ok {
			if d, err := hex.DecodeString(h.Hex); err == nil && h.Algorithm == "sha256" && len(d) == 32 {
				s.sums[i] = (*[32]byte)(d)
				return nil
			}
		}
	}
	fd, err := openat(n.dirfd, n.name, flagRead, 0)
	if err != nil {
		return &fs.PathError{Op: "read", Path: n.srel, Err: err}
	}
	sum := new([32]byte)
	s.sums[i] = sum
	srel := n.srel
	s.g.Go(func() error {
		defer unix.Close(fd)
		if err := s.ctx.Err(); err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(h, fdReader(fd)); err != nil {
			return &fs.PathError{Op: "read", Path: srel, Err: err}
		}
		h.Sum(sum[:0])
		// A file changed within the last seconds may change again without
		// its stat showing it (racy timestamps): do not remember it.
		if s.sc != nil && clock().Sub(fi.ctime()) > racyWindow {
			s.sc.Put(abs, fi, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])})
		}
		return nil
	})
	return nil
}

// url records a URL: its --checksum, or the digest of its body.
func (s *summer) url(ctx context.Context, it *item, opt *Options) error {
	if opt.Checksum != "" {
		if _, err := newDigester(opt.Checksum); err != nil {
			return fmt.Errorf("ADD %s: %w", it.url, err)
		}
		s.add(fmt.Sprintf("url %q %q\n", it.url, opt.Checksum))
		return nil
	}
	resp, err := get(ctx, opt.HTTPClient, it.url)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", it.url, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return fmt.Errorf("ADD %s: %w", it.url, err)
	}
	s.add(fmt.Sprintf("url %q sha256:%x\n", it.url, h.Sum(nil)))
	return nil
}

// fdReader reads a raw descriptor.
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), p)
		if err == unix.EINTR { // EAGAIN (a FIFO swapped in) is an error

			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// statInfo is an fs.FileInfo made from a stat, whose Sys is a
// *syscall.Stat_t like os.Lstat's.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func newStatInfo(name string, st *unix.Stat_t) *statInfo {
	return &statInfo{name: name, st: syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctim: syscall.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}}
}

func (i *statInfo) Name() string       { return i.name }
func (i *statInfo) Size() int64        { return i.st.Size }
func (i *statInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *statInfo) IsDir() bool        { return i.st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (i *statInfo) Sys() any           { return &i.st }
func (i *statInfo) ctime() time.Time   { return time.Unix(i.st.Ctim.Unix()) }

func (i *statInfo) Mode() fs.FileMode {
	m := modeFromUnix(i.st.Mode & 0o7777)
	switch i.st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	return m
}

var _ fs.FileInfo = (*statInfo)(nil)

// statKey is what a cache entry must match: size, mtime, ctime, inode.
type statKey struct {
	size, mtime, ctime int64
	ino                uint64
}

func keyOf(fi fs.FileInfo) (statKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return statKey{}, false
	}
	return statKey{
		size:  st.Size,
		mtime: time.Unix(st.Mtim.Unix()).UnixNano(),
		ctime: time.Unix(st.Ctim.Unix()).UnixNano(),
		ino:   st.Ino,
	}, true
}

func (k statKey) String() string {
	return strings.Join([]string{
		strconv.FormatInt(k.size, 10), strconv.FormatInt(k.mtime, 10),
		strconv.FormatInt(k.ctime, 10), strconv.FormatUint(k.ino, 10),
	}, " ")
}
