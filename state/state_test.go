package state_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/state"
)

// fixture is a real root, filled through the store, cache and snapshot
// packages the way a build fills it.
type fixture struct {
	t   *testing.T
	ctx context.Context
	dir string
	r   *state.Root
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	r, err := state.Open(ctx, dir, state.Options{Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, dir: dir, r: r}
}

// reopen opens the root again, as the next bld command does.
func (f *fixture) reopen() *state.Root {
	f.t.Helper()
	r, err := state.Open(f.ctx, f.dir, state.Options{Snapshots: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// blob writes size random bytes to the store.
func (f *fixture) blob(size int) v1.Descriptor {
	f.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	w, err := f.r.Store.Writer()
	if err != nil {
		f.t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		f.t.Fatal(err)
	}
	h, n, err := w.Commit(v1.Hash{})
	if err != nil {
		f.t.Fatal(err)
	}
	return v1.Descriptor{MediaType: types.OCILayer, Digest: h, Size: n}
}

// snap commits a snapshot on parent holding one file of size random bytes.
func (f *fixture) snap(name, parent string, size int) {
	f.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "file-" + name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		f.t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	key := "prepare-" + name
	if _, err := f.r.Snapshots.Prepare(f.ctx, key, parent); err != nil {
		f.t.Fatal(err)
	}
	if err := f.r.Snapshots.Apply(f.ctx, key, &buf); err != nil {
		f.t.Fatal(err)
	}
	if err := f.r.Snapshots.Commit(f.ctx, name, key); err != nil {
		f.t.Fatal(err)
	}
}

// record puts a step's record: its snapshot (on parent, size bytes) and
// its layer blob (size bytes), last used at lastUsed.
func (f *fixture) record(id, parent string, size int, lastUsed time.Time) cache.Record {
	f.t.Helper()
	key, _ := cache.NewKey([]byte(id), nil, v1.Hash{})
	name := snapshot.StepName(key.String())
	f.snap(name, parent, size)
	d := f.blob(size)
	rec := cache.Record{Key: key, Snapshot: name, Layer: &d, CreatedBy: "RUN " + id, Created: lastUsed, LastUsed: lastUsed}
	if err := f.r.Cache.Put(rec); err != nil {
		f.t.Fatal(err)
	}
	f.age(key, lastUsed)
	return rec
}

// age sets when a record was last used (cache.Walk reads the record file's
// modification time, which Touch bumps).
func (f *fixture) age(k cache.Key, t time.Time) {
	f.t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.dir, "cache", "records", "*", k.String()+".json"))
	if len(files) != 1 {
		f.t.Fatalf("record file of %s: %v", k, files)
	}
	if err := os.Chtimes(files[0], t, t); err != nil {
		f.t.Fatal(err)
	}
}

// image stores and names a random image of two layers.
func (f *fixture) image(name string) v1.Image {
	f.t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		f.t.Fatal(err)
	}
	desc, err := f.r.Store.WriteImage(f.ctx, img)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.r.Store.Tag(name, desc); err != nil {
		f.t.Fatal(err)
	}
	return img
}

func (f *fixture) usage() *state.Usage {
	f.t.Helper()
	u, err := f.reopen().Usage(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) prune(opts state.PruneOptions) *state.PruneReport {
	f.t.Helper()
	rep, err := f.reopen().Prune(f.ctx, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func (f *fixture) records() map[string]bool {
	f.t.Helper()
	out := map[string]bool{}
	if err := f.r.Cache.Walk(func(r cache.Record) error { out[r.CreatedBy] = true; return nil }, nil); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// disk measures the root by other means than du: the blob files' sizes,
// coreutils du for the snapshot directories (disk blocks, as the
// snapshotter counts them), and the cache mounts' file sizes.
func (f *fixture) disk() (blobs, snaps, mounts int64, snapDirs int) {
	f.t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.dir, "content", "blobs", "sha256"))
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			f.t.Fatal(err)
		}
		blobs += fi.Size()
	}
	dirs, _ := filepath.Glob(filepath.Join(f.dir, "snapshots", "snapshots", "*"))
	if len(dirs) > 0 {
		out, err := exec.Command("du", append([]string{"-s", "--block-size=1"}, dirs...)...).Output()
		if err != nil {
			f.t.Fatalf("du: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			n, err := strconv.ParseInt(strings.Fields(line)[0], 10, 64)
			if err != nil {
				f.t.Fatal(err)
			}
			snaps += n
		}
	}
	out, err := exec.Command("find", f.r.CacheMountsDir(), "-type", "f", "-printf", "%s\n").Output()
	if err == nil {
		for _, line := range strings.Fields(string(out)) {
			n, _ := strconv.ParseInt(line, 10, 64)
			mounts += n
		}
	}
	return blobs, snaps, mounts, len(dirs)
}

// checkDisk compares du's figures with the bytes on disk.
func (f *fixture) checkDisk(u *state.Usage) {
	f.t.Helper()
	blobs, snaps, mounts, dirs := f.disk()
	var duBlobs, duSnaps int64
	for _, b := range u.Blobs {
		duBlobs += b.Size
	}
	for _, s := range u.Snapshots {
		duSnaps += s.Size
	}
	if duBlobs != blobs || duSnaps != snaps || u.CacheMounts != mounts || u.Totals.All != blobs+snaps+mounts {
		f.t.Errorf("du: blobs %d, snapshots %d, cache mounts %d, total %d; on disk: blobs %d, snapshots %d, cache mounts %d",
			duBlobs, duSnaps, u.CacheMounts, u.Totals.All, blobs, snaps, mounts)
	}
	if len(u.Snapshots) != dirs {
		f.t.Errorf("du lists %d snapshots, %d directories on disk", len(u.Snapshots), dirs)
	}
	var sum int64
	for _, r := range u.Summary {
		sum += r.Size
	}
	if sum != u.Totals.All {
		f.t.Errorf("du's summary rows add up to %d, total %d", sum, u.Totals.All)
	}
}

// checkImage reads the named image back from the store, every blob
// verified against its digest.
func (f *fixture) checkImage(name string) {
	f.t.Helper()
	img, err := f.reopen().Store.Image(name)
	if err != nil {
		f.t.Fatalf("image %s after prune: %v", name, err)
	}
	layers, err := img.Layers()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			f.t.Fatalf("image %s: %v", name, err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			f.t.Fatalf("image %s: %v", name, err)
		}
		rc.Close()
	}
}

const kib = 1024

func TestDuMatchesDiskAndNamesOwners(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.image("app:1")
	a := f.record("a", "", 64*kib, now.Add(-time.Hour))
	f.record("b", a.Snapshot, 32*kib, now)
	f.snap(snapshot.LayerName(strings.Repeat("ab", 32)), "", 8*kib)

	u := f.usage()
	f.checkDisk(u)
	var layerSnap *state.SnapshotUsage
	for _, s := range u.Snapshots {
		if snapshot.IsLayer(s.Name) {
			layerSnap = s
		}
		if s.Name == a.Snapshot && (s.CreatedBy != "RUN a" || s.Records != 1) {
			t.Errorf("snapshot of a: %+v", s)
		}
	}
	if layerSnap == nil || layerSnap.CreatedBy != state.BaseLayerCreatedBy {
		t.Errorf("base layer snapshot: %+v", layerSnap)
	}
	if len(u.Images) != 1 || u.Images[0].Name != "docker.io/library/app:1" || u.Images[0].Unique != u.Images[0].Size {
		t.Errorf("images: %+v", u.Images)
	}
	var imageBlobs int
	for _, b := range u.Blobs {
		if len(b.Images) == 1 {
			imageBlobs++
			if b.Reclaimable {
				t.Errorf("blob %s of an image is reclaimable", b.Digest)
			}
		}
		if b.Digest == a.Layer.Digest.String() && (b.Records != 1 || b.CreatedBy != "RUN a" || b.Reclaimable || !b.ReclaimableAll) {
			t.Errorf("layer of a: %+v", b)
		}
	}
	if imageBlobs != 4 { // manifest, config, two layers
		t.Errorf("%d blobs belong to the image, want 4", imageBlobs)
	}
}

// du's reclaimable figures are what prune and prune -a free, byte for
// byte, measured on disk, on a root with images, cache records (some
// holding a layer an image has too), dangling snapshots and blobs, an
// unpacked base layer and cache mounts.
func TestDuReclaimableIsWhatPruneFrees(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	img := f.image("app:1")
	f.image("other:1")
	a := f.record("a", "", 64*kib, now.Add(-2*time.Hour))
	f.record("b", a.Snapshot, 32*kib, now.Add(-time.Hour))
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	key, _ := cache.NewKey([]byte("image layer"), nil, v1.Hash{})
	if err := f.r.Cache.Put(cache.Record{Key: key, Layer: &v1.Descriptor{Digest: d, Size: 4096}, CreatedBy: "RUN x"}); err != nil {
		t.Fatal(err)
	}
	f.snap("dangling", "", 20*kib)
	f.snap("dangling-child", "dangling", 4*kib)
	f.snap(snapshot.LayerName(strings.Repeat("cd", 32)), "", 8*kib)
	f.blob(10 * kib)
	mounts := filepath.Join(f.r.CacheMountsDir(), "go-build")
	if err := os.MkdirAll(mounts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mounts, "obj"), make([]byte, 7000), 0o644); err != nil {
		t.Fatal(err)
	}
	measure := func() int64 {
		b, s, m, _ := f.disk()
		return b + s + m
	}

	for _, all := range []bool{false, true} {
		u := f.usage()
		f.checkDisk(u)
		want := u.Totals.Reclaimable
		if all {
			want = u.Totals.ReclaimableAll
		}
		if want == 0 || u.Totals.ReclaimableAll <= u.Totals.Reclaimable {
			t.Fatalf("du: reclaimable %d, with -a %d: the fixture has something for each", u.Totals.Reclaimable, u.Totals.ReclaimableAll)
		}
		var rows int64
		for _, r := range u.Summary {
			if all {
				rows += r.ReclaimableAll
			} else {
				rows += r.Reclaimable
			}
		}
		before := measure()
		rep := f.prune(state.PruneOptions{All: all})
		freedOnDisk := before - measure()
		if rep.Total != want || freedOnDisk != want || rows != want {
			t.Errorf("all=%v: du says %d reclaimable (summary rows %d), prune reported %d, the disk shrank by %d", all, want, rows, rep.Total, freedOnDisk)
		}
		after := f.usage()
		f.checkDisk(after)
		if after.Totals.Reclaimable != 0 {
			t.Errorf("all=%v: after prune, du still says %d reclaimable", all, after.Totals.Reclaimable)
		}
	}
	f.checkImage("app:1")
	f.checkImage("other:1")
}

func TestInstructionSpelling(t *testing.T) {
	for in, want := range map[string]string{
		"RUN /bin/sh -c make # buildkit":                 "RUN make",
		"RUN |2 A=1 B=2 /bin/sh -c make test # buildkit": "RUN make test",
		"RUN make":                        "RUN make",
		"COPY a.txt /a # buildkit":        "COPY a.txt /a",
		"/bin/sh -c #(nop)  CMD [\"sh\"]": "CMD [\"sh\"]",
		"/bin/sh -c apt-get update":       "RUN apt-get update",
		"RUN bash -c make # buildkit":     "RUN bash -c make",
		"bld import busybox":              "bld import busybox",
	} {
		if got := state.Instruction(in); got != want {
			t.Errorf("Instruction(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrunePlainFreesOnlyUnreferenced(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.image("app:1")
	a := f.record("a", "", 16*kib, now.Add(-time.Hour))
	orphanBlob := f.blob(10 * kib)
	f.snap("orphan", "", 8*kib)

	rep := f.prune(state.PruneOptions{})
	if rep.Records != 0 {
		t.Errorf("plain prune dropped %d records", rep.Records)
	}
	freed := map[string]bool{}
	for _, x := range rep.Freed {
		freed[x.Name] = true
	}
	if !freed["orphan"] || !freed[orphanBlob.Digest.String()] || len(rep.Freed) != 2 {
		t.Errorf("freed %+v, want the orphan snapshot and blob", rep.Freed)
	}
	if freed[a.Snapshot] || freed[a.Layer.Digest.String()] {
		t.Errorf("freed what record a holds: %+v", rep.Freed)
	}
	f.checkDisk(f.usage())
	f.checkImage("app:1")
}

func TestPruneKeepStorageFreesOldestFirst(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.image("app:1")
	var recs []cache.Record
	for i := range 6 {
		// Oldest first: r0 is 6 hours old, r5 one hour.
		recs = append(recs, f.record("r"+strconv.Itoa(i), "", 64*kib, now.Add(-time.Duration(6-i)*time.Hour)))
	}
	before := f.usage()
	// Room for the image and half of the cache.
	keep := before.Totals.All - before.Totals.ReclaimableAll/2

	rep := f.prune(state.PruneOptions{KeepStorage: keep})
	after := f.usage()
	f.checkDisk(after)
	if after.Totals.All > keep {
		t.Errorf("after --keep-storage %d: %d left", keep, after.Totals.All)
	}
	if rep.Pinned != nil {
		t.Errorf("pinned %+v, though the cache could be freed", rep.Pinned)
	}
	if rep.Total != before.Totals.All-after.Totals.All {
		t.Errorf("report says %d freed, du says %d", rep.Total, before.Totals.All-after.Totals.All)
	}
	left := f.records()
	if rep.Records == 0 || rep.Records == len(recs) {
		t.Fatalf("dropped %d of %d records", rep.Records, len(recs))
	}
	for i, r := range recs {
		if want := i >= rep.Records; left[r.CreatedBy] != want {
			t.Errorf("record %s (age rank %d) kept = %v, want %v: the oldest go first", r.CreatedBy, i, left[r.CreatedBy], want)
		}
	}
	// Not more than needed: the last record dropped (a 64 KiB blob and a
	// snapshot of a little more) was needed.
	if after.Totals.All+3*64*kib <= keep {
		t.Errorf("dropped too much: %d left, keep %d", after.Totals.All, keep)
	}
	f.checkImage("app:1")
}

// --keep-storage below what images and cache mounts hold drops every
// record and says what pins the rest.
func TestPruneKeepStorageReportsPinned(t *testing.T) {
	f := newFixture(t)
	f.image("app:1")
	f.record("r", "", 64*kib, time.Now())
	mounts := filepath.Join(f.r.CacheMountsDir(), "m")
	if err := os.MkdirAll(mounts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mounts, "obj"), make([]byte, 3000), 0o644); err != nil {
		t.Fatal(err)
	}
	before := f.usage()
	rep := f.prune(state.PruneOptions{KeepStorage: 1})
	after := f.usage()
	f.checkDisk(after)
	if rep.Records != 1 || len(f.records()) != 0 {
		t.Errorf("dropped %d records, %d left", rep.Records, len(f.records()))
	}
	if rep.Total != before.Totals.All-after.Totals.All {
		t.Errorf("report says %d freed, du says %d", rep.Total, before.Totals.All-after.Totals.All)
	}
	p := rep.Pinned
	if p == nil {
		t.Fatal("no Pinned though the root is above --keep-storage")
	}
	if p.Left != after.Totals.All || p.Images != after.Summary[0].Size || p.CacheMounts != 3000 || p.Images+p.CacheMounts+p.Live != p.Left {
		t.Errorf("pinned %+v; du after: %+v", p, after.Summary)
	}
	f.checkImage("app:1")
}

func TestPruneKeepStorageKeepsParentsOfKeptRecords(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	parent := f.record("parent", "", 64*kib, now.Add(-3*time.Hour))
	child := f.record("child", parent.Snapshot, 8*kib, now)

	// Room for all but the parent's layer blob: dropping the parent's
	// record fits, as its snapshot stays under the child's.
	keep := f.usage().Totals.All - parent.Layer.Size
	f.prune(state.PruneOptions{KeepStorage: keep})
	left := f.records()
	if left["RUN parent"] || !left["RUN child"] {
		t.Errorf("records left %v, want only the child", left)
	}
	// The parent's snapshot stays: the child's snapshot is built on it.
	u := f.usage()
	f.checkDisk(u)
	names := map[string]bool{}
	for _, s := range u.Snapshots {
		names[s.Name] = true
	}
	if !names[parent.Snapshot] || !names[child.Snapshot] {
		t.Errorf("snapshots left %v, want both of the child's chain", names)
	}
	// The parent's layer blob went with its record.
	for _, b := range u.Blobs {
		if b.Digest == parent.Layer.Digest.String() {
			t.Errorf("parent's layer blob kept without a record")
		}
	}
}

func TestPruneUntilFreesOnlyOlderRecords(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.record("fresh", "", 16*kib, now.Add(-time.Hour))
	f.record("day", "", 16*kib, now.Add(-20*time.Hour))
	old := f.record("old", "", 16*kib, now.Add(-48*time.Hour))
	older := f.record("older", "", 16*kib, now.Add(-72*time.Hour))

	rep := f.prune(state.PruneOptions{Until: 24 * time.Hour})
	if rep.Records != 2 {
		t.Errorf("dropped %d records, want 2", rep.Records)
	}
	left := f.records()
	if !left["RUN fresh"] || !left["RUN day"] || left["RUN old"] || left["RUN older"] {
		t.Errorf("records left %v, want fresh and day", left)
	}
	freed := map[string]bool{}
	for _, x := range rep.Freed {
		freed[x.Name] = true
	}
	for _, r := range []cache.Record{old, older} {
		if !freed[r.Snapshot] || !freed[r.Layer.Digest.String()] {
			t.Errorf("%s: snapshot and blob not freed: %+v", r.CreatedBy, rep.Freed)
		}
	}
	f.checkDisk(f.usage())
}

func TestPruneNeverFreesTaggedImage(t *testing.T) {
	for _, opts := range []state.PruneOptions{
		{},
		{KeepStorage: 1},
		{Until: time.Nanosecond},
		{All: true},
	} {
		f := newFixture(t)
		img := f.image("app:1")
		layers, _ := img.Layers()
		// A record whose layer is the image's: its record may go, the blob not.
		d, _ := layers[1].Digest()
		key, _ := cache.NewKey([]byte("shared"), nil, v1.Hash{})
		if err := f.r.Cache.Put(cache.Record{Key: key, Layer: &v1.Descriptor{Digest: d, Size: 4096}, CreatedBy: "RUN shared"}); err != nil {
			t.Fatal(err)
		}
		f.age(key, time.Now().Add(-time.Hour))
		f.record("own", "", 16*kib, time.Now().Add(-time.Hour))

		rep := f.prune(opts)
		f.checkImage("app:1")
		u := f.usage()
		f.checkDisk(u)
		if opts.All && (rep.Records != 2 || u.Totals.ReclaimableAll != 0 || len(u.Snapshots) != 0) {
			t.Errorf("-a: dropped %d records, %d reclaimable left", rep.Records, u.Totals.ReclaimableAll)
		}
	}
}

func TestPruneAllEmptiesCacheMounts(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.r.CacheMountsDir(), "go-build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "obj"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := f.prune(state.PruneOptions{}); len(rep.Freed) != 0 {
		t.Errorf("plain prune freed %+v", rep.Freed)
	}
	rep := f.prune(state.PruneOptions{All: true})
	if len(rep.Freed) != 1 || rep.Freed[0].Kind != state.FreedCacheMounts || rep.Freed[0].Size != 5000 {
		t.Errorf("freed %+v, want the cache mounts' 5000 bytes", rep.Freed)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache mount left: %v", err)
	}
}

func TestPruneWaitsForBuilds(t *testing.T) {
	f := newFixture(t)
	unlock, err := f.r.LockShared(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second build runs alongside.
	unlock2, err := f.reopen().LockShared(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	ctx, cancel := context.WithTimeout(f.ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := f.reopen().Prune(ctx, state.PruneOptions{All: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("prune during a build: %v, want it to wait", err)
	}
	unlock()
	if _, err := f.reopen().Prune(f.ctx, state.PruneOptions{All: true}); err != nil {
		t.Errorf("prune after the build: %v", err)
	}
}

func TestOpenRemovesCrashScratch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a bind mount, as a RUN --mount leaves one after kill -9")
	}
	f := newFixture(t)
	// A build killed with a bind mount of the user's context in place.
	userCtx := t.TempDir()
	if err := os.WriteFile(filepath.Join(userCtx, "precious"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	step := filepath.Join(f.r.TmpDir(), "step-123")
	target := filepath.Join(step, "rootfs", "src")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(userCtx, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mount.UnmountAll(step) })
	if err := os.WriteFile(filepath.Join(step, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}

	// While a build holds the root, its scratch stays.
	unlock, err := f.r.LockShared(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.reopen()
	if _, err := os.Stat(filepath.Join(step, "secret")); err != nil {
		t.Errorf("scratch of a live build removed: %v", err)
	}
	unlock()

	f.reopen()
	if _, err := os.Stat(step); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("crash scratch left: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(userCtx, "precious")); err != nil || string(b) != "keep" {
		t.Errorf("bind-mounted source damaged: %q %v", b, err)
	}
	if points, _ := mount.Points(f.r.TmpDir()); len(points) != 0 {
		t.Errorf("mounts left under tmp: %v", points)
	}
}

func TestOpenLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "root")
	r, err := state.Open(t.Context(), dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Snapshots != nil {
		t.Error("snapshotter opened without Options.Snapshots")
	}
	for _, p := range []string{"content/oci-layout", "content/index.json", "cache", "tmp"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for got, want := range map[string]string{
		r.TmpDir():            dir + "/tmp",
		r.CacheMountsDir():    dir + "/cachemounts",
		r.StatCachePath():     dir + "/statcache.json",
		r.BlobLocationsPath(): dir + "/cache/blob-locations.json",
		r.SnapshotsDir():      dir + "/snapshots",
	} {
		if got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("BLD_ROOT", "/srv/bld")
	if d := state.DefaultDir(); d != "/srv/bld" {
		t.Errorf("with BLD_ROOT: %s", d)
	}
	t.Setenv("BLD_ROOT", "")
	t.Setenv("XDG_DATA_HOME", "/home/u/.data")
	want := "/home/u/.data/bld"
	if os.Geteuid() == 0 {
		want = "/var/lib/bld"
	}
	if d := state.DefaultDir(); d != want {
		t.Errorf("DefaultDir() = %s, want %s", d, want)
	}
}

// TestDuNamesSnapshotByItsMaker: a snapshot several records name (an
// unchanged RUN's record names its parent's) is shown as created by the
// step that made it, named after its key, whatever order the records come
// in (cache.Walk's, by key).
func TestDuNamesSnapshotByItsMaker(t *testing.T) {
	for _, id := range []string{"0", "1", "2", "3", "4", "5", "6", "7"} {
		f := newFixture(t)
		a := f.record("copy", "", 16*kib, time.Now())
		key, _ := cache.NewKey([]byte("run "+id), nil, v1.Hash{})
		if err := f.r.Cache.Put(cache.Record{Key: key, Snapshot: a.Snapshot, CreatedBy: "RUN true"}); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.usage().Snapshots {
			if s.Name == a.Snapshot && (s.CreatedBy != "RUN copy" || s.Records != 2) {
				t.Errorf("with the RUN's key %s: snapshot %+v, want created by RUN copy, 2 records", key, s)
			}
		}
	}
}
