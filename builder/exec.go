package builder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"golang.org/x/sync/errgroup"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/compress"
	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/readers"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// need solves v once per build: a Source or a step with a usable record
// returns at once, with its snapshot made only if a later step asks for it
// (so a cached COPY --from never builds the stage it copies from); a step
// that must run first needs its inputs, concurrently, then runs.
func (s *solve) need(ctx context.Context, v *dag.Vertex) (*node, error) {
	s.mu.Lock()
	f, ok := s.memo[v]
	if !ok {
		k := s.nodes[v].chain
		if shared, ok := s.byKey[k]; ok && s.byKey != nil {
			// The same step in another platform's graph: its result,
			// once solved, is this vertex's too.
			f = sync.OnceValues(func() (*node, error) {
				n, err := shared()
				if err != nil {
					return nil, err
				}
				s.mu.Lock()
				*s.nodes[v] = *n
				s.mu.Unlock()
				return n, nil
			})
		} else {
			// Shared work runs under the build's context, not the first
			// caller's (whose errgroup may be cancelled by a sibling).
			f = sync.OnceValues(func() (*node, error) { return s.visit(s.rootCtx, v) })
			if s.byKey != nil {
				s.byKey[k] = f
			}
		}
		s.memo[v] = f
	}
	s.mu.Unlock()
	return f()
}

func (s *solve) visit(ctx context.Context, v *dag.Vertex) (*node, error) {
	n := s.nodes[v]
	if src, ok := v.Op.(*dag.Source); ok {
		n.snap = sync.OnceValues(func() (string, error) { return s.unpack(s.rootCtx, v, src) })
		if !n.announced {
			s.b.emit(Event{Vertex: v, State: Done})
		}
		return n, nil
	}
	if n.hit {
		rec, remote := n.rec, n.remote
		n.snap = sync.OnceValues(func() (string, error) {
			parent, err := s.need(s.rootCtx, v.Inputs[0])
			if err != nil {
				return "", err
			}
			if n.linked {
				return s.restoreLinked(s.rootCtx, v, n, remote, parent)
			}
			return s.restore(s.rootCtx, v, rec, remote, parent)
		})
		// A failed Touch only leaves the record's last-used time old, so
		// prune may drop it sooner: worth a warning, not a failed build.
		// ErrNotFound is a prune that removed the record since the lookup;
		// this build already has what it needs from it.
		if err := s.b.Cache.Touch(n.key); err != nil && !errors.Is(err, cache.ErrNotFound) {
			s.warn(v, fmt.Errorf("mark cache record used: %w", err))
		}
		if !n.announced {
			s.b.emit(Event{Vertex: v, State: Cached})
		}
		return n, nil
	}
	inputs := make([]*node, len(v.Inputs))
	g, gctx := errgroup.WithContext(ctx)
	for i, in := range v.Inputs {
		g.Go(func() error {
			n, err := s.need(gctx, in)
			if err != nil {
				return err
			}
			// Materialise the input's filesystem now, outside the
			// execution slots: a cached input may have to be restored,
			// or even rebuilt, and that must not wait for a slot.
			if _, err := n.snap(); err != nil {
				return err
			}
			inputs[i] = n
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n, err := s.exec(ctx, v, inputs)
	if err != nil {
		s.cancel(err)
		return nil, err
	}
	return n, nil
}

// exec executes a step whose inputs are ready, in an execution slot.
func (s *solve) exec(ctx context.Context, v *dag.Vertex, inputs []*node) (*node, error) {
	n := s.nodes[v]
	if err := s.sem.Acquire(ctx, 1); err != nil {
		return nil, context.Cause(ctx)
	}
	defer s.sem.Release(1)
	s.b.emit(Event{Vertex: v, State: Started, Reason: n.reason})
	start := time.Now()
	rec, err := s.execute(ctx, v, inputs)
	if err != nil {
		var se *StepError
		if !errors.As(err, &se) {
			err = &StepError{Pos: v.Pos, Instruction: instruction(v), Err: err}
		}
		if ctx.Err() != nil && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), err) {
			// A sibling failed first, or the build was interrupted, and
			// cancelled this step: its line stays, marked as such (as
			// BuildKit's CANCELED).
			s.b.emit(Event{Vertex: v, State: Canceled, Duration: time.Since(start)})
			return nil, context.Cause(ctx)
		}
		s.b.emit(Event{Vertex: v, State: Failed, Err: err, Duration: time.Since(start)})
		return nil, err
	}
	rec.Key = n.key
	rec.Components = n.comps
	rec.Scope = s.scope(v, n)
	rec.CreatedBy = instruction(v)
	rec.Created = time.Now().UTC().Truncate(time.Second)
	if layer := n.layer; layer != nil {
		n.layer = nil
		n.snap = func() (string, error) { return rec.Snapshot, nil }
		s.layers.Go(func() { s.recordLater(v, n, rec, layer) })
		s.b.emit(Event{Vertex: v, State: Done, Duration: time.Since(start)})
		return n, nil
	}
	if err := s.b.Cache.Put(rec); err != nil {
		return nil, err
	}
	n.rec = rec
	n.snap = func() (string, error) { return rec.Snapshot, nil }
	switch {
	case n.linked:
		n.snap = sync.OnceValues(func() (string, error) { return s.rebase(s.rootCtx, n, inputs[0]) })
	case rec.Snapshot == "" && rec.Layer != nil:
		// Written straight to its layer (copyLayer): its snapshot is
		// made only if a step asks.
		n.snap = sync.OnceValues(func() (string, error) { return s.restore(s.rootCtx, v, rec, nil, inputs[0]) })
	}
	s.b.emit(Event{Vertex: v, State: Done, Duration: time.Since(start)})
	return n, nil
}

func (s *solve) execute(ctx context.Context, v *dag.Vertex, inputs []*node) (cache.Record, error) {
	switch op := v.Op.(type) {
	case *dag.Copy:
		return s.copy(ctx, v, op, inputs)
	case *dag.Run:
		return s.run(ctx, v, op, inputs)
	case *dag.Mkdir:
		return s.mkdir(ctx, v, op, inputs)
	default:
		return cache.Record{}, fmt.Errorf("unknown step kind %q", v.Op.Kind())
	}
}

// activeKey names a new active snapshot; it never collides, even across
// processes sharing the root.
func activeKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "active-" + hex.EncodeToString(b[:])
}

// prepare makes an active snapshot over parent and calls fn with its
// mounts; on error the active snapshot is removed.
func (s *solve) prepare(ctx context.Context, parent string, fn func(key string, mounts []mount.Mount) error) (string, error) {
	key := activeKey()
	mounts, err := s.b.Snapshots.Prepare(ctx, key, parent)
	if err != nil {
		return "", fmt.Errorf("prepare snapshot: %w", err)
	}
	if err := fn(key, mounts); err != nil {
		_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
		return "", err
	}
	return key, nil
}

// withView makes a read-only view of n's snapshot and calls fn with the
// directory holding it.
func (s *solve) withView(ctx context.Context, n *node, fn func(dir string) error) error {
	tmp, err := s.scratchDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir, release, err := s.mountView(ctx, n, filepath.Join(tmp, "view"))
	if err != nil {
		return err
	}
	defer release()
	return fn(dir)
}

// commit commits active snapshot key as the result of step v and writes
// its diff as a layer blob. A step that changed nothing keeps its parent's
// snapshot; it has no layer unless keepEmpty, when its layer is the empty
// tar (a RUN, as BuildKit gives every RUN a layer).
func (s *solve) commit(ctx context.Context, v *dag.Vertex, key string, parent string, keepEmpty bool) (cache.Record, error) {
	name := snapshot.StepName(s.nodes[v].key.String())
	// Steps with one key (identical steps run again under NoCache, in
	// parallel stages) share the snapshot name: one commits, the others
	// find it there and diff it. The one that removes it for an empty diff
	// must not do so while another still reads it.
	unlock := commitLocks.lock(name)
	defer unlock()
	// A step that changed nothing (RUN true) is not committed at all: its
	// snapshot goes, the parent's serves, and its layer (if any) is the
	// empty tar's. Committing it only to drop it cost a synced record.
	if unchanged, err := snapshot.Unchanged(ctx, s.b.Snapshots, key); err != nil || unchanged {
		// The removal (a rename and a few unlinks that wait on the disk)
		// goes on beside the next step; Build waits for it.
		s.removing.Go(func() { _ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key) })
		if err != nil {
			return cache.Record{}, fmt.Errorf("commit snapshot: %w", err)
		}
		if !keepEmpty {
			return cache.Record{Snapshot: parent}, nil
		}
		var desc *v1.Descriptor
		var diffID v1.Hash
		if s.b.Compression == "" || s.b.Compression == "gzip" {
			desc, diffID, err = s.writeEmptyGzip()
		} else {
			desc, diffID, err = s.writeLayerFrom(ctx, v, bytes.NewReader(make([]byte, emptyTar)), keepEmpty)
		}
		if err != nil {
			return cache.Record{}, err
		}
		return cache.Record{Snapshot: parent, Layer: desc, DiffID: diffID}, nil
	}
	committed := true
	if err := s.b.Snapshots.Commit(ctx, name, key); err != nil {
		if !errors.Is(err, snapshot.ErrExists) {
			_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
			return cache.Record{}, fmt.Errorf("commit snapshot: %w", err)
		}
		// The step's own snapshot goes while the one there is diffed:
		// removing a tree of many files waits on the disk.
		removed := make(chan struct{})
		go func() {
			defer close(removed)
			_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
		}()
		defer func() { <-removed }()
		committed = false
	}
	if committed && s.layerLater(v) {
		// Later steps build on the snapshot now; its layer is written
		// beside them (exec records the step once it is).
		s.nodes[v].layer = func() (*v1.Descriptor, v1.Hash, error) {
			return s.writeLayer(ctx, v, name, keepEmpty)
		}
		return cache.Record{Snapshot: name}, nil
	}
	desc, diffID, err := s.writeLayer(ctx, v, name, keepEmpty)
	if err != nil {
		if committed {
			// No layer, no record: the snapshot would only take space
			// (often the space whose lack failed the write).
			_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), name)
		}
		return cache.Record{}, err
	}
	if desc == nil || diffID == EmptyTarDiffID {
		// The parent's snapshot serves: an empty lower would only make
		// every later overlay mount deeper. A twin step's snapshot (not
		// committed here) is its own to keep: steps may build on it
		// while its layer is written (recordLater).
		if committed {
			_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), name)
		}
		return cache.Record{Snapshot: parent, Layer: desc, DiffID: diffID}, nil
	}
	return cache.Record{Snapshot: name, Layer: desc, DiffID: diffID}, nil
}

// layerLater reports whether step v's layer may be written beside the
// steps after it rather than before them: not when no step builds on it
// (nothing to overlap with, and a failed layer is then better with the
// snapshot gone too, as commit does), not for a linked step (its
// rebase reads the layer), nor when steps of several platforms share
// nodes, nor under --no-cache (twin steps share a snapshot name), nor
// when layerSlots layers are being written so already (a chain of quick
// steps with large layers would pile up compressors and their buffers).
// A true result takes a slot, which recordLater gives back.
func (s *solve) layerLater(v *dag.Vertex) bool {
	return s.consumed[v] && !s.nodes[v].linked && s.byKey == nil && s.b.NoCache == nil && s.layerSlots.TryAcquire(1)
}

// layerSlots is how many layers are written beside the steps at most.
var layerSlots = int64(max(2, runtime.GOMAXPROCS(0)))

// recordLater writes the layer of step v, whose snapshot later steps
// already build on, then records the step (its record only once its blob
// is in the store, as for any step). An empty diff keeps the snapshot
// (steps may be on it). A failure cancels the build, which returns it;
// the snapshot stays, without a record (prune frees it), as later steps
// may have committed onto it.
func (s *solve) recordLater(v *dag.Vertex, n *node, rec cache.Record, layer func() (*v1.Descriptor, v1.Hash, error)) {
	defer s.layerSlots.Release(1)
	desc, diffID, err := layer()
	if err == nil {
		rec.Layer, rec.DiffID = desc, diffID
		err = s.b.Cache.Put(rec)
	}
	if err != nil {
		err = &StepError{Pos: v.Pos, Instruction: instruction(v), Err: err}
		s.mu.Lock()
		s.layerErrs = append(s.layerErrs, err)
		s.mu.Unlock()
		s.b.emit(Event{Vertex: v, State: Failed, Err: err})
		s.cancel(err)
		return
	}
	n.rec = rec
}

// commitLocks serialises the commits of one snapshot name in this process.
var commitLocks keyedMutex

// keyedMutex is a set of mutexes by name, each alive while it is used.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock locks name and returns its unlock.
func (k *keyedMutex) lock(name string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[name]
	if l == nil {
		l = &keyedLock{}
		k.locks[name] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, name)
		}
		k.mu.Unlock()
	}
}

// emptyTar is the size of a tar archive with no entries.
const emptyTar = 1024

// EmptyTarDiffID is the digest of a tar archive with no entries (1024 zero
// bytes): the diffID of a step that changed nothing but has a layer. Its
// record's snapshot is the parent's.
var EmptyTarDiffID = v1.Hash{Algorithm: "sha256", Hex: "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"}

// emptyTarGzip is the empty tar as BuildKit (Go's compress/gzip at its
// default level) writes it, sha256:4f4fb700ef54...: the same bytes, so the
// same blob, as in images docker build made.
var emptyTarGzip = []byte{
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x62, 0x18, 0x05, 0xa3, 0x60, 0x14,
	0x8c, 0x58, 0x00, 0x08, 0x00, 0x00, 0xff, 0xff, 0x2e, 0xaf, 0xb5, 0xef, 0x00, 0x04, 0x00, 0x00,
}

var emptyTarGzipDigest = v1.Hash{Algorithm: "sha256", Hex: "4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"}

// writeLayer streams the diff of committed snapshot name through the
// compressor into the store, reporting the bytes compressed as v's. For an
// empty diff it returns a nil descriptor, or with keepEmpty the empty
// tar's.
func (s *solve) writeLayer(ctx context.Context, v *dag.Vertex, name string, keepEmpty bool) (*v1.Descriptor, v1.Hash, error) {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.b.Snapshots.Diff(ctx, pw, name, snapshot.DiffOptions{Epoch: s.b.Epoch}))
	}()
	defer pr.Close()
	return s.writeLayerFrom(ctx, v, pr, keepEmpty)
}

// writeLayerFrom is writeLayer for the layer tar read from r.
func (s *solve) writeLayerFrom(ctx context.Context, v *dag.Vertex, r io.Reader, keepEmpty bool) (*v1.Descriptor, v1.Hash, error) {
	w, err := s.b.Store.Writer()
	if err != nil {
		return nil, v1.Hash{}, err
	}
	defer w.Close()
	cr := s.meter(v, "compress", 0, r)
	format := s.b.Compression
	if format == "" {
		format = "gzip"
	}
	res, err := compress.Compress(ctx, w, cr, compress.Options{Format: format})
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("write layer: %w", err)
	}
	cr.done()
	if cr.n.Load() <= emptyTar {
		if !keepEmpty {
			return nil, v1.Hash{}, nil
		}
		if format == "gzip" {
			return s.writeEmptyGzip()
		}
	}
	digest, size, err := w.Commit(res.Digest)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("write layer: %w", err)
	}
	return &v1.Descriptor{MediaType: res.MediaType, Size: size, Digest: digest}, res.DiffID, nil
}

// writeEmptyGzip stores emptyTarGzip (unless the store has it: no write,
// no fsync) and returns its descriptor.
func (s *solve) writeEmptyGzip() (*v1.Descriptor, v1.Hash, error) {
	mt, err := compress.MediaType("gzip")
	if err != nil {
		return nil, v1.Hash{}, err
	}
	if size, err := s.b.Store.Stat(emptyTarGzipDigest); err == nil {
		return &v1.Descriptor{MediaType: mt, Size: size, Digest: emptyTarGzipDigest}, EmptyTarDiffID, nil
	}
	w, err := s.b.Store.Writer()
	if err != nil {
		return nil, v1.Hash{}, err
	}
	defer w.Close()
	if _, err := w.Write(emptyTarGzip); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("write empty layer: %w", err)
	}
	digest, size, err := w.Commit(emptyTarGzipDigest)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("write empty layer: %w", err)
	}
	return &v1.Descriptor{MediaType: mt, Size: size, Digest: digest}, EmptyTarDiffID, nil
}

// progressEvery is how often a transfer reports its bytes.
const progressEvery = 100 * time.Millisecond

// meter counts the bytes read through it and reports them as Bytes events
// of a vertex (none if it is nil), at most every progressEvery; done
// reports the end. Decompressors read ahead in goroutines of their own,
// hence the atomics and the lock.
type meter struct {
	s     *solve
	v     *dag.Vertex
	what  string
	total int64
	r     io.Reader
	n     atomic.Int64
	next  atomic.Int64 // UnixNano of the next report

	mu    sync.Mutex // protects ended, so no report follows done's
	ended bool
}

func (s *solve) meter(v *dag.Vertex, what string, total int64, r io.Reader) *meter {
	m := &meter{s: s, v: v, what: what, total: total, r: r}
	m.next.Store(time.Now().Add(progressEvery).UnixNano())
	return m
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	cur := m.n.Add(int64(n))
	if now := time.Now().UnixNano(); m.v != nil && now >= m.next.Load() {
		m.next.Store(now + int64(progressEvery))
		m.report(cur, m.total, false)
	}
	return n, err
}

// done reports the transfer complete. Current is Total then, even where
// the reader of a layer stopped before the compressed stream's trailer.
func (m *meter) done() {
	if m.v != nil {
		total := max(m.n.Load(), m.total)
		m.report(total, total, true)
	}
}

func (m *meter) report(cur, total int64, last bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	m.ended = last
	m.s.b.emit(Event{Vertex: m.v, State: Bytes, What: m.what, Current: cur, Total: total})
}

// applyLayer applies layer l onto active snapshot key, reporting the
// compressed bytes read as v's transfer what, and checks the uncompressed
// stream against the layer's diff_id (a *store.DiffIDError): the caller
// then removes key, so nothing is committed.
//
// A layer whose blob the store lacks (a base image's, read from its
// registry) is kept in the store as it is read, and committed once its
// digest and diff_id both check: the image's export (which writes the base
// layers into the local store) then finds it there instead of fetching and
// decompressing it a second time.
func (s *solve) applyLayer(ctx context.Context, v *dag.Vertex, what string, key string, l v1.Layer) error {
	want, err := l.DiffID()
	if err != nil {
		return err
	}
	digest, err := l.Digest()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	var src io.Reader = rc
	keep := s.keeper(l, digest)
	if keep != nil {
		defer keep.w.Close()
		src = io.TeeReader(rc, keep)
	}
	size, _ := l.Size() // 0, unknown, if it fails
	m := s.meter(v, what, size, src)
	ur, err := compress.Decompress(m)
	if err != nil {
		return err
	}
	closeUR := sync.OnceValue(ur.Close)
	defer closeUR()
	dr := newDiffIDReader(ur)
	if err := s.b.Snapshots.Apply(ctx, key, dr); err != nil {
		return err
	}
	if err := dr.check(digest, want); err != nil {
		return err
	}
	m.done()
	if keep != nil {
		// The decompressor is done with the stream (and its read-ahead
		// stopped) before the rest of it, if any, is read here.
		_ = closeUR()
		keep.commit(ctx, rc, digest)
	}
	return nil
}

// keeper returns a blobKeeper for layer l (of the given digest) when the
// store lacks its blob, else nil. Foreign layers are never stored.
func (s *solve) keeper(l v1.Layer, digest v1.Hash) *blobKeeper {
	if mt, err := l.MediaType(); err != nil || !mt.IsDistributable() {
		return nil
	}
	if _, err := s.b.Store.Stat(digest); !errors.Is(err, store.ErrNotFound) {
		return nil
	}
	w, err := s.b.Store.Writer()
	if err != nil {
		return nil
	}
	return &blobKeeper{w: w}
}

// blobKeeper writes the compressed bytes of a layer being applied into a
// store blob. Keeping the blob is a saving, not part of the unpack: a
// write error only drops the copy (the export fetches the blob then).
type blobKeeper struct {
	w   *store.Writer
	err error
}

func (k *blobKeeper) Write(p []byte) (int, error) {
	if k.err == nil {
		_, k.err = k.w.Write(p)
	}
	return len(p), nil
}

// commit reads what is left of the compressed stream r (the decompressor
// may stop before the end of it) and commits the blob if r ends without
// error (a registry layer's reader checks its digest at the end) and the
// content has the digest (Commit checks it again).
func (k *blobKeeper) commit(ctx context.Context, r io.Reader, digest v1.Hash) {
	if _, err := io.Copy(k, readers.WithContext(ctx, r)); err != nil || k.err != nil {
		return
	}
	_, _, _ = k.w.Commit(digest)
}

// shortHex is the first 12 hex digits of a digest, as docker shows them.
func shortHex(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Hex[:12]
	}
	return h.Hex
}

// unpack makes committed snapshots of a base image's layers, one per
// layer, named by chain ID, so every image and step sharing a base shares
// them. Layers already unpacked are skipped.
func (s *solve) unpack(ctx context.Context, v *dag.Vertex, src *dag.Source) (string, error) {
	if src.Ref == "" {
		return "", nil
	}
	img, err := s.b.Image(ctx, src)
	if err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("%s: layers: %w", src.Ref, err)
	}
	parent := ""
	var chain v1.Hash
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return "", fmt.Errorf("%s: layer %d: %w", src.Ref, i, err)
		}
		chain = chainID(chain, diffID)
		name := snapshot.LayerName(chain.Hex)
		// Many stages FROM one base (1,000 in issue 11) ask at once: one
		// of them unpacks each layer, the others wait for it.
		_, err, _ = s.unpacking.Do(name, func() (any, error) {
			if _, err := s.b.Snapshots.Stat(ctx, name); err == nil {
				return nil, nil
			}
			what := "pull " + shortHex(diffID)
			if d, err := l.Digest(); err == nil {
				what = "pull " + shortHex(d)
			}
			key, err := s.prepare(ctx, parent, func(key string, _ []mount.Mount) error {
				return s.applyLayer(ctx, v, what, key, l)
			})
			if err != nil {
				return nil, fmt.Errorf("unpack %s layer %s: %w", src.Ref, diffID, err)
			}
			if err := s.b.Snapshots.Commit(ctx, name, key); err != nil {
				_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
				if !errors.Is(err, snapshot.ErrExists) {
					return nil, fmt.Errorf("unpack %s: %w", src.Ref, err)
				}
			}
			return nil, nil
		})
		if err != nil {
			return "", err
		}
		parent = name
	}
	return parent, nil
}

// unpackEarly starts, in wg, the unpacking of the base images of targets
// that look pulled for this build: a layer blob the store lacks and the
// image's snapshots not all there. It runs beside the plan (which reads
// and hashes the context), so a cold build's first step finds its base
// ready; the Source vertex that later needs it shares the work (unpack's
// singleflight) and reports nothing twice. A failed early unpack is
// dropped: the unpack the build needs runs again and reports the error.
// With imported caches (--cache-from) or --fail-on-cache-miss nothing
// starts early: there the base is often not needed at all.
func (s *solve) unpackEarly(targets []*dag.Vertex, wg *sync.WaitGroup) {
	if len(s.b.Remote) > 0 || s.b.FailOnMiss || s.b.Image == nil {
		return
	}
	// Only bases a step builds on or copies from: a FROM with nothing but
	// metadata after it is never unpacked (a push to its registry mounts
	// its layers). The first Source of each image, in Dockerfile order,
	// reports the transfers.
	var srcs []*dag.Vertex
	seen, added := map[*dag.Vertex]bool{}, map[*dag.Vertex]bool{}
	var walk func(v *dag.Vertex)
	walk = func(v *dag.Vertex) {
		if seen[v] {
			return
		}
		seen[v] = true
		for _, in := range v.Inputs {
			if src, ok := in.Op.(*dag.Source); ok && src.Ref != "" && !added[in] {
				added[in] = true
				srcs = append(srcs, in)
			}
			walk(in)
		}
	}
	for _, t := range targets {
		walk(t)
	}
	sort.SliceStable(srcs, func(i, j int) bool { return vertexBefore(srcs[i], srcs[j]) })
	images := map[string]bool{}
	for _, v := range srcs {
		src := v.Op.(*dag.Source)
		if k := src.Digest.String() + " " + src.Platform; images[k] {
			continue
		} else {
			images[k] = true
		}
		wg.Go(func() {
			if s.pulledNow(s.rootCtx, src) {
				_, _ = s.unpack(s.rootCtx, v, src)
			}
		})
	}
}

// pulledNow reports whether src's image looks pulled for this build: some
// layer blob is not in the store and its top snapshot is not there.
func (s *solve) pulledNow(ctx context.Context, src *dag.Source) bool {
	img, err := s.b.Image(ctx, src)
	if err != nil {
		return false
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return false
	}
	missing := false
	var chain v1.Hash
	for _, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return false
		}
		chain = chainID(chain, diffID)
		if d, err := l.Digest(); err == nil {
			if _, err := s.b.Store.Stat(d); errors.Is(err, store.ErrNotFound) {
				missing = true
			}
		}
	}
	if !missing {
		return false
	}
	_, err = s.b.Snapshots.Stat(ctx, snapshot.LayerName(chain.Hex))
	return err != nil
}

// chainID extends a chain ID by one diffID (image-spec identity.ChainID).
func chainID(parent, diffID v1.Hash) v1.Hash {
	if parent == (v1.Hash{}) {
		return diffID
	}
	h, _, _ := v1.SHA256(strings.NewReader(parent.String() + " " + diffID.String()))
	return h
}

// restore makes the snapshot of a cached step that is no longer on disk
// by applying its recorded layer onto its parent's snapshot. A layer from
// an imported cache is fetched into the store first (once), and the record
// is then kept locally too.
func (s *solve) restore(ctx context.Context, v *dag.Vertex, rec cache.Record, remote RemoteCache, parent *node) (_ string, err error) {
	if rec.Layer == nil || rec.DiffID == EmptyTarDiffID {
		return parent.snap()
	}
	if remote != nil {
		if err := s.fetch(ctx, v, rec, remote); err != nil {
			return "", err
		}
		// Keep the imported record locally too. A failed Put costs only a
		// later build's cache hit (it fetches again from the remote cache),
		// so it is a warning, not a failed build.
		defer func() {
			if err := s.b.Cache.Put(rec); err != nil {
				s.warn(v, fmt.Errorf("record imported cache step locally: %w", err))
			}
		}()
	}
	name := rec.Snapshot
	if name == "" {
		// A COPY written straight to its layer (copyLayer) has no
		// snapshot until a step needs one: it is made now, and its
		// record names it from then on.
		name = snapshot.StepName(rec.Key.String())
		defer func() {
			if err != nil {
				return
			}
			rec.Snapshot = name
			// As for an imported record: a failed Put costs only a
			// later build's restore.
			if err := s.b.Cache.Put(rec); err != nil {
				s.warn(v, fmt.Errorf("record the snapshot of a cached step: %w", err))
			}
		}()
	}
	if _, err := s.b.Snapshots.Stat(ctx, name); err == nil {
		return name, nil
	}
	psnap, err := parent.snap()
	if err != nil {
		return "", err
	}
	key, err := s.prepare(ctx, psnap, func(key string, _ []mount.Mount) error {
		l, err := s.b.Store.Layer(*rec.Layer, rec.DiffID)
		if err != nil {
			return err
		}
		return s.applyLayer(ctx, nil, "", key, l)
	})
	if err != nil {
		return "", fmt.Errorf("restore cached step %s: %w", rec.Key, err)
	}
	if err := s.b.Snapshots.Commit(ctx, name, key); err != nil {
		_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
		if !errors.Is(err, snapshot.ErrExists) {
			return "", fmt.Errorf("restore cached step %s: %w", rec.Key, err)
		}
	}
	return name, nil
}

// scratchDir makes a private directory for one step's temporary files.
func (s *solve) scratchDir() (string, error) {
	if err := os.MkdirAll(s.b.WorkDir, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.b.WorkDir, "step-")
}

// fetch copies a remote record's layer blob into the store, verified by
// digest, unless it is there already, reporting the bytes as v's.
func (s *solve) fetch(ctx context.Context, v *dag.Vertex, rec cache.Record, remote RemoteCache) error {
	if _, err := s.b.Store.Stat(rec.Layer.Digest); err == nil {
		return nil
	}
	l, err := remote.Layer(*rec.Layer, rec.DiffID)
	if err != nil {
		return fmt.Errorf("fetch cached layer %s: %w", rec.Layer.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("fetch cached layer %s: %w", rec.Layer.Digest, err)
	}
	defer rc.Close()
	w, err := s.b.Store.Writer()
	if err != nil {
		return err
	}
	defer w.Close()
	m := s.meter(v, "pull "+shortHex(rec.Layer.Digest), rec.Layer.Size, readers.WithContext(ctx, rc))
	if _, err := io.Copy(w, m); err != nil {
		return fmt.Errorf("fetch cached layer %s: %w", rec.Layer.Digest, err)
	}
	if _, _, err := w.Commit(rec.Layer.Digest); err != nil {
		return fmt.Errorf("fetch cached layer %s: %w", rec.Layer.Digest, err)
	}
	m.done()
	return nil
}

// warn reports a problem that does not fail the build as a line on the
// vertex's standard error.
func (s *solve) warn(v *dag.Vertex, err error) {
	s.b.emit(Event{Vertex: v, State: Log, Stream: 2, Line: "warning: " + err.Error()})
}
