package remotecache

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/cache"
)

// counter is an http.RoundTripper that records the requests it carries.
type counter struct {
	rt   http.RoundTripper
	mu   sync.Mutex // protects reqs
	reqs []string   // "METHOD path?query -> status"
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	s := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		s += "?" + r.URL.RawQuery
	}
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		s += fmt.Sprintf(" -> %d", resp.StatusCode)
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, s)
	c.mu.Unlock()
	return resp, err
}

// take returns the requests since the last take.
func (c *counter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reqs
	c.reqs = nil
	return r
}

// writes returns the requests of rs that change the registry.
func writes(rs []string) []string {
	var w []string
	for _, r := range rs {
		if m, _, _ := strings.Cut(r, " "); m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch {
			w = append(w, r)
		}
	}
	return w
}

// uploaded returns the digests of the blobs rs uploaded (an upload ends
// with a PUT naming the digest; a mount has none).
func uploaded(rs []string) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		if !strings.HasPrefix(r, "PUT ") || !strings.Contains(r, "/blobs/uploads/") {
			continue
		}
		if _, q, ok := strings.Cut(r, "?"); ok {
			q, _, _ = strings.Cut(q, " ")
			v, _ := url.ParseQuery(q)
			out[v.Get("digest")] = true
		}
	}
	return out
}

// fixture is a set of records and the layers ("the local store") they use.
type fixture struct {
	records []cache.Record
	layers  map[v1.Hash]v1.Layer
}

func (f *fixture) layer(d v1.Descriptor) (v1.Layer, error) {
	l, ok := f.layers[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s not in the store", d.Digest)
	}
	return l, nil
}

// addStep adds a record for step name with a new random layer (or none
// when size is 0), or sharing the layer of record share when share >= 0.
func (f *fixture) addStep(t *testing.T, step string, size int64, share int) cache.Record {
	t.Helper()
	k, _ := cache.NewKey([]byte(step), nil, v1.Hash{})
	r := cache.Record{Key: k, CreatedBy: "RUN " + step, Snapshot: "snap-" + step}
	switch {
	case share >= 0:
		r.Layer, r.DiffID = f.records[share].Layer, f.records[share].DiffID
	case size > 0:
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		d, err := describe(l)
		if err != nil {
			t.Fatal(err)
		}
		if r.DiffID, err = l.DiffID(); err != nil {
			t.Fatal(err)
		}
		r.Layer = &d
		if f.layers == nil {
			f.layers = map[v1.Hash]v1.Layer{}
		}
		f.layers[d.Digest] = l
	}
	f.records = append(f.records, r)
	return r
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.addStep(t, "base", 2048, -1)
	f.addStep(t, "env", 0, -1)
	f.addStep(t, "make", 4096, -1)
	f.addStep(t, "make again", 0, 2) // same layer as "make": stored once
	return f
}

// newRegistry starts ggcr's in-process registry and returns its host.
func newRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

var nameOpts = []name.Option{name.Insecure}

// checkRecords checks that r holds exactly want, as Get reports them.
func checkRecords(t *testing.T, r *Remote, want []cache.Record) {
	t.Helper()
	keys := map[cache.Key]bool{}
	for _, w := range want {
		keys[w.Key] = true
		got, ok := r.Get(w.Key)
		if !ok {
			t.Errorf("Get(%s) missing (%s)", w.Key, w.CreatedBy)
			continue
		}
		if got.Key != w.Key || got.CreatedBy != w.CreatedBy || got.DiffID != w.DiffID || got.Snapshot != "" {
			t.Errorf("Get(%s) = %+v, want key, createdBy, diffID of %+v and no snapshot", w.Key, got, w)
		}
		switch {
		case (got.Layer == nil) != (w.Layer == nil):
			t.Errorf("Get(%s).Layer = %v, want %v", w.Key, got.Layer, w.Layer)
		case got.Layer != nil && (got.Layer.Digest != w.Layer.Digest || got.Layer.Size != w.Layer.Size || got.Layer.MediaType != w.Layer.MediaType):
			t.Errorf("Get(%s).Layer = %+v, want %+v", w.Key, got.Layer, w.Layer)
		}
	}
	if r.Len() != len(keys) {
		t.Errorf("Len() = %d, want %d", r.Len(), len(keys))
	}
}

// checkLayer reads the layer of rec through r and checks its diffID.
func checkLayer(t *testing.T, r *Remote, rec cache.Record) {
	t.Helper()
	l, err := r.Layer(*rec.Layer, rec.DiffID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, _, err := v1.SHA256(rc)
	if err != nil {
		t.Fatalf("read layer %s: %v", rec.Layer.Digest, err)
	}
	if h != rec.DiffID {
		t.Errorf("layer %s has diffID %s, want %s", rec.Layer.Digest, h, rec.DiffID)
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	c := &counter{rt: http.DefaultTransport}
	ref := reg + "/app/cache:buildcache"
	spec, err := ParseExportSpec("type=registry,ref=" + ref + ",mode=max")
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(ctx, Export{Records: f.records, Layer: f.layer}, nameOpts, remote.WithTransport(c)); err != nil {
		t.Fatal(err)
	}
	if up := uploaded(c.take()); len(up) != 3 { // two layers and the config
		t.Errorf("first export uploaded %d blobs, want 3: %v", len(up), up)
	}

	// The cache is one OCI manifest with the bld config media type.
	desc, err := remote.Get(mustRef(t, ref), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != ConfigMediaType || len(m.Layers) != 2 {
		t.Errorf("cache manifest: %s, config %s, %d layers; want OCI manifest, %s, 2 layers", desc.MediaType, m.Config.MediaType, len(m.Layers), ConfigMediaType)
	}

	for _, spec := range []string{ref, "type=registry,ref=" + ref} {
		r, err := Import(ctx, spec, nameOpts, remote.WithTransport(c))
		if err != nil {
			t.Fatalf("Import(%s): %v", spec, err)
		}
		checkRecords(t, r, f.records)
		c.take()
		rec, _ := r.Get(f.records[2].Key)
		l, err := r.Layer(*rec.Layer, rec.DiffID)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := l.Digest(); err != nil || d != rec.Layer.Digest {
			t.Errorf("Layer().Digest() = %s, %v", d, err)
		}
		if _, err := l.Size(); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(*remote.MountableLayer); !ok {
			t.Errorf("Layer() is a %T, want a *remote.MountableLayer", l)
		}
		if rs := c.take(); len(rs) != 0 {
			t.Errorf("Layer, Digest and Size made requests: %v", rs)
		}
		checkLayer(t, r, rec)
		if rs := c.take(); len(rs) == 0 {
			t.Error("reading a layer made no request")
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, nameOpts...)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestExportSkipsExistingBlobs(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	c := &counter{rt: http.DefaultTransport}
	spec, _ := ParseExportSpec(reg + "/app/cache:main")
	e := Export{Records: f.records, Layer: f.layer}
	if err := spec.Write(ctx, e, nameOpts, remote.WithTransport(c)); err != nil {
		t.Fatal(err)
	}
	c.take()

	// The same cache again: the tag has the manifest; nothing is written.
	e.Records = append([]cache.Record{f.records[3], f.records[1]}, f.records[0], f.records[2]) // order does not matter
	if err := spec.Write(ctx, e, nameOpts, remote.WithTransport(c)); err != nil {
		t.Fatal(err)
	}
	if w := writes(c.take()); len(w) != 0 {
		t.Errorf("second identical export wrote: %v", w)
	}

	// One step more: only its layer, the config and the manifest go up.
	rec := f.addStep(t, "test", 1024, -1)
	e.Records = f.records
	if err := spec.Write(ctx, e, nameOpts, remote.WithTransport(c)); err != nil {
		t.Fatal(err)
	}
	rs := c.take()
	up := uploaded(rs)
	if len(up) != 2 || !up[rec.Layer.Digest.String()] {
		t.Errorf("export with one new step uploaded %v, want its layer %s and the config", up, rec.Layer.Digest)
	}
	puts := 0
	for _, r := range writes(rs) {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") {
			puts++
		}
	}
	if puts != 1 {
		t.Errorf("%d manifest PUTs, want 1: %v", puts, writes(rs))
	}
	r, err := Import(ctx, reg+"/app/cache:main", nameOpts)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r, f.records)
}

func TestLocalRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "cache")
	f := newFixture(t)
	spec, err := ParseExportSpec("type=local,dest=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(ctx, Export{Records: f.records, Layer: f.layer}, nil); err != nil {
		t.Fatal(err)
	}
	// A second tag in the same layout, sharing the blobs.
	other, _ := ParseExportSpec("type=local,dest=" + dir + ",tag=other")
	if err := other.Write(ctx, Export{Records: f.records[:2], Layer: f.layer}, nil); err != nil {
		t.Fatal(err)
	}
	// A plain OCI layout: ggcr reads it, each entry a valid manifest.
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if im, err := ii.IndexManifest(); err != nil || len(im.Manifests) != 2 {
		t.Fatalf("index.json = %v, %v; want two manifests", im, err)
	}
	r, err := Import(ctx, "type=local,src="+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != dir {
		t.Errorf("String() = %q, want %q", r.String(), dir)
	}
	checkRecords(t, r, f.records)
	rec, _ := r.Get(f.records[2].Key)
	checkLayer(t, r, rec)
	r2, err := Import(ctx, "type=local,src="+dir+",tag=other", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r2, f.records[:2])
	checkSkopeo(t, dir, "latest", 2)

	// Replacing "latest" with a cache without "make" removes its layer
	// (no other tag uses it) and keeps "base" (tag other uses it), also
	// when a crashed export left a temp file among the blobs.
	if err := os.WriteFile(filepath.Join(dir, "blobs/sha256", f.records[2].Layer.Digest.Hex+"123"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(ctx, Export{Records: f.records[:2], Layer: f.layer}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs/sha256", f.records[2].Layer.Digest.Hex)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("layer of a dropped record still in the layout: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "blobs/sha256")); len(ents) != 3 { // base layer, config, manifest: both tags name one cache now
		t.Errorf("layout holds %d blobs after the replace, want 3", len(ents))
	}
	checkSkopeo(t, dir, "latest", 1)
	checkSkopeo(t, dir, "other", 1)
	checkLayer(t, r2, f.records[0])

	// A corrupted blob is caught when read.
	p := filepath.Join(dir, "blobs/sha256", f.records[0].Layer.Digest.Hex)
	if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := r2.Layer(*f.records[0].Layer, f.records[0].DiffID)
	rc, err := l.Compressed()
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), f.records[0].Layer.Digest.String()) {
		t.Errorf("reading a corrupt blob: %v, want an error naming it", err)
	}
}

func TestInlineRoundTrip(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	notInImage := f.addStep(t, "other stage", 512, -1)
	// The image has the layers of base and make, in that order.
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var descs []v1.Descriptor
	for _, i := range []int{0, 2} {
		l := f.layers[f.records[i].Layer.Digest]
		var err error
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, *f.records[i].Layer)
	}
	ann, err := InlineAnnotations(f.records, descs)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, ann).(v1.Image)
	ref := reg + "/app:v1"
	if err := remote.Write(mustRef(t, ref), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"type=inline,ref=" + ref, ref, "type=registry,ref=" + ref} {
		r, err := Import(ctx, spec, nameOpts)
		if err != nil {
			t.Fatalf("Import(%s): %v", spec, err)
		}
		checkRecords(t, r, f.records[:4])
		if _, ok := r.Get(notInImage.Key); ok {
			t.Errorf("record of a layer not in the image was inlined")
		}
		checkLayer(t, r, f.records[2])
		if len(r.Mounts()) != 0 {
			t.Errorf("inline cache has mounts: %v", r.Mounts())
		}
	}
	if ann, err := InlineAnnotations([]cache.Record{notInImage}, descs); err != nil || ann != nil {
		t.Errorf("InlineAnnotations with no record of the image = %v, %v; want nil", ann, err)
	}
	if err := (ExportSpec{Type: "inline", Inline: true}).Write(ctx, Export{}, nil); err != nil {
		t.Errorf("Write(type=inline) = %v", err)
	}
}

func TestImportErrors(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	spec, _ := ParseExportSpec(reg + "/app/cache:ok")
	if err := spec.Write(ctx, Export{Records: f.records, Layer: f.layer}, nameOpts); err != nil {
		t.Fatal(err)
	}
	plain, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, reg+"/app:plain"), plain); err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(mustRef(t, reg+"/app:index"), idx); err != nil {
		t.Fatal(err)
	}
	pushCache := func(tag, config string, layers int) {
		t.Helper()
		img := &cacheImage{}
		for i := 0; i < layers; i++ {
			l := f.layers[f.records[0].Layer.Digest]
			d, _ := describe(l)
			img.add(l, d)
		}
		if err := img.finish([]byte(config)); err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(mustRef(t, reg+"/app/cache:"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	pushCache("garbage", "{not json", 0)
	pushCache("future", `{"version":2,"records":{}}`, 0)
	pushCache("badindex", `{"version":1,"records":{"`+f.records[0].Key.String()+`":{"layer":3,"diffID":"`+f.records[0].DiffID.String()+`"}}}`, 1)
	missingCfg := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","size":2,"digest":"sha256:%s"},"layers":[]}`,
		types.OCIManifestSchema1, ConfigMediaType, strings.Repeat("b", 64))
	if err := remote.Put(mustRef(t, reg+"/app/cache:noconfig"), rawManifest(missingCfg)); err != nil {
		t.Fatal(err)
	}
	pushCache("badkey", `{"version":1,"records":{"zz":{"layer":null}}}`, 0)
	authReg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}))
	defer authReg.Close()
	authHost := strings.TrimPrefix(authReg.URL, "http://")
	local := t.TempDir()
	if err := (ExportSpec{Type: "local", Dest: local, Tag: "latest"}).Write(ctx, Export{Records: f.records, Layer: f.layer}, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		spec     string
		want     string
		notFound bool
	}{
		{reg + "/app/cache:missing", "cache-from " + reg + "/app/cache:missing: not found", true},
		{reg + "/nothing/here:tag", "cache-from " + reg + "/nothing/here:tag: not found", true},
		{reg + "/app:plain", "cache-from " + reg + "/app:plain: not a bld cache (config media type application/vnd.docker.container.image.v1+json)", false},
		{"type=inline,ref=" + reg + "/app:plain", "image has no inline cache", false},
		{reg + "/app:index", "an image index, not a bld cache", false},
		{reg + "/app/cache:garbage", "cache-from " + reg + "/app/cache:garbage: corrupt cache config", false},
		{reg + "/app/cache:future", "unsupported cache format version 2", false},
		{reg + "/app/cache:badindex", "layer 3 of 1", false},
		{reg + "/app/cache:noconfig", "cache-from " + reg + "/app/cache:noconfig: read cache config sha256:bbbb", false},
		{reg + "/app/cache:badkey", `parse cache key "zz"`, false},
		{authHost + "/app/cache:x", "cache-from " + authHost + "/app/cache:x: GET http://" + authHost + "/v2/app/cache/manifests/x: UNAUTHORIZED", false},
		{"type=local,src=" + filepath.Join(local, "nope"), "cache-from " + filepath.Join(local, "nope") + ": not found", true},
		{"type=local,src=" + local + ",tag=v2", "cache-from " + local + ": tag v2: not found", true},
		{"type=local,src=" + local + ",digest=sha256:" + strings.Repeat("0", 64), "digest sha256:000", true},
		{"type=gha,url=x", `cache-from "type=gha,url=x": unknown key "url"`, false},
		{"type=gha", `unsupported cache type "gha"`, false},
		{"type=registry", "type=registry needs ref=", false},
		{"type=local", "type=local needs src=", false},
		{"type=local,src=/x,ref=r", "takes src=, not ref=", false},
		{"type=local,src=/x,tag=a,digest=sha256:00", "tag= or digest=, not both", false},
		{"type=local,src=/x,digest=md5", "digest=md5", false},
		{"type=registry,ref=a,src=b", "takes ref=, not src=", false},
		{"type=registry,ref", `"ref": want key=value`, false},
		{"type=registry,ref=", "want key=value", false},
		{"Bad Ref!", "cache-from Bad Ref!: ", false},
		{"", "empty cache source", false},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			r, err := Import(ctx, tc.spec, nameOpts)
			if err == nil {
				t.Fatalf("Import(%q) = %v records, want an error", tc.spec, r.Len())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Import(%q) = %q, want it to contain %q", tc.spec, err, tc.want)
			}
			if errors.Is(err, ErrNoCache) != tc.notFound {
				t.Errorf("errors.Is(%q, ErrNoCache) = %v, want %v", err, !tc.notFound, tc.notFound)
			}
		})
	}
}

// TestRemoteLayerInImage checks that a remote record's layer can be
// appended to an image and pushed elsewhere without being read first.
func TestRemoteLayerInImage(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	spec, _ := ParseExportSpec(reg + "/app/cache:main")
	if err := spec.Write(ctx, Export{Records: f.records, Layer: f.layer}, nameOpts); err != nil {
		t.Fatal(err)
	}
	r, err := Import(ctx, reg+"/app/cache:main", nameOpts)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := r.Get(f.records[0].Key)
	l, _ := r.Layer(*rec.Layer, rec.DiffID)
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, reg+"/app:v2"), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(mustRef(t, reg+"/app:v2"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := got.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("pushed image layers = %v, %v", ls, err)
	}
	if d, _ := ls[0].Digest(); d != rec.Layer.Digest {
		t.Errorf("pushed layer %s, want %s", d, rec.Layer.Digest)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// rawManifest is an OCI manifest given as text, for remote.Put.
type rawManifest string

func (m rawManifest) RawManifest() ([]byte, error)        { return []byte(m), nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// checkSkopeo checks with skopeo, not ggcr, that the layout dir holds the
// cache tagged tag with the given number of layers.
func checkSkopeo(t *testing.T, dir, tag string, layers int) {
	t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+dir+":"+tag).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw oci:%s:%s: %v", dir, tag, errOutput(err))
	}
	m, err := v1.ParseManifest(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("skopeo read a manifest ggcr cannot parse: %v\n%s", err, out)
	}
	if m.Config.MediaType != ConfigMediaType || len(m.Layers) != layers {
		t.Errorf("skopeo: oci:%s:%s has config %s and %d layers, want %s and %d", dir, tag, m.Config.MediaType, len(m.Layers), ConfigMediaType, layers)
	}
	// skopeo copies the cache out of the layout whole: every blob is
	// there and matches its digest.
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("skopeo", "copy", "oci:"+dir+":"+tag, "oci:"+dst+":"+tag).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy oci:%s:%s: %v\n%s", dir, tag, err, out)
	}
}

func errOutput(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}
