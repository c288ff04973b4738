package remotecache

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// mounted returns the number of blobs rs mounted from another repository.
func mounted(rs []string) int {
	n := 0
	for _, r := range rs {
		if strings.HasPrefix(r, "POST ") && strings.Contains(r, "mount=") && strings.HasSuffix(r, "-> 201") {
			n++
		}
	}
	return n
}

// TestDockerRegistry runs the round trips against Debian's docker-registry
// (distribution 2.8), which, unlike ggcr's in-process registry, keeps blobs
// per repository and validates manifests.
func TestDockerRegistry(t *testing.T) {
	host := testutil.Registry(t)
	ctx := t.Context()
	f := newFixture(t)
	src := makeMountDir(t)
	c := &counter{rt: http.DefaultTransport}
	tr := remote.WithTransport(c)

	// Export: the registry accepts the custom config media type.
	spec, err := ParseExportSpec("type=registry,ref=" + host + "/app/cache:main,mode=max,cache-mounts=true")
	if err != nil {
		t.Fatal(err)
	}
	e := Export{Records: f.records, Layer: f.layer, Mounts: []MountDir{{ID: "go-build", Dir: src}}}
	if err := spec.Write(ctx, e, nameOpts, tr); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(mustRef(t, host+"/app/cache:main"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest))); err != nil || m.Config.MediaType != ConfigMediaType {
		t.Fatalf("stored manifest config = %v, %v; want %s", m, err, ConfigMediaType)
	}

	// Import: records, lazy layers with the right bytes, the mount.
	r, err := Import(ctx, host+"/app/cache:main", nameOpts, tr)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, r, f.records)
	c.take()
	rec, _ := r.Get(f.records[2].Key)
	l, _ := r.Layer(*rec.Layer, rec.DiffID)
	if _, err := l.Digest(); err != nil {
		t.Fatal(err)
	}
	if rs := c.take(); len(rs) != 0 {
		t.Errorf("Layer made requests before a read: %v", rs)
	}
	checkLayer(t, r, rec)
	if ms := r.Mounts(); len(ms) != 1 {
		t.Fatalf("Mounts() = %v", ms)
	} else if err := UnpackMount(ctx, ms[0].Layer, t.TempDir()); err != nil {
		t.Fatal(err)
	}

	// Again, unchanged: nothing written.
	c.take()
	if err := spec.Write(ctx, e, nameOpts, tr); err != nil {
		t.Fatal(err)
	}
	if w := writes(c.take()); len(w) != 0 {
		t.Errorf("second export wrote %v", w)
	}

	// A cache of steps that changed nothing has no layers; the registry
	// takes that too.
	empty1, _ := ParseExportSpec(host + "/app/cache:empty")
	if err := empty1.Write(ctx, Export{Records: f.records[1:2]}, nameOpts); err != nil {
		t.Fatal(err)
	}
	if re, err := Import(ctx, host+"/app/cache:empty", nameOpts); err != nil || re.Len() != 1 {
		t.Fatalf("Import of a layerless cache = %v, %v", re, err)
	}

	// To another repository, layers taken from the imported cache: they
	// are mounted, not uploaded; only the config goes up.
	other, _ := ParseExportSpec(host + "/other/cache:main")
	fromRemote := Export{Records: f.records, Layer: func(d v1.Descriptor) (v1.Layer, error) {
		rec := f.records[0]
		for _, x := range f.records {
			if x.Layer != nil && x.Layer.Digest == d.Digest {
				rec = x
			}
		}
		return r.Layer(d, rec.DiffID)
	}}
	if err := other.Write(ctx, fromRemote, nameOpts, tr); err != nil {
		t.Fatal(err)
	}
	rs := c.take()
	if n, up := mounted(rs), uploaded(rs); n != 2 || len(up) != 1 {
		t.Errorf("export to another repository mounted %d blobs and uploaded %v; want 2 mounted, the config uploaded\n%s", n, up, strings.Join(rs, "\n"))
	}
	r2, err := Import(ctx, host+"/other/cache:main", nameOpts)
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, r2, rec)

	// An image with an inline cache; a cache next to it mounts the image's
	// layers through MountFrom.
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	var descs []v1.Descriptor
	for _, i := range []int{0, 2} {
		if img, err = mutate.AppendLayers(img, f.layers[f.records[i].Layer.Digest]); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, *f.records[i].Layer)
	}
	ann, err := InlineAnnotations(f.records, descs)
	if err != nil {
		t.Fatal(err)
	}
	imgRef := mustRef(t, host+"/img:v1")
	if err := remote.Write(imgRef, mutate.Annotations(img, ann).(v1.Image)); err != nil {
		t.Fatal(err)
	}
	ri, err := Import(ctx, host+"/img:v1", nameOpts)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, ri, f.records)
	checkLayer(t, ri, rec)

	repo := imgRef.Context()
	c.take()
	near, _ := ParseExportSpec(host + "/img-cache:v1")
	if err := near.Write(ctx, Export{Records: f.records, Layer: f.layer, MountFrom: &repo}, nameOpts, tr); err != nil {
		t.Fatal(err)
	}
	rs = c.take()
	if n, up := mounted(rs), uploaded(rs); n != 2 || len(up) != 1 {
		t.Errorf("export with MountFrom mounted %d blobs and uploaded %v; want 2 mounted, the config uploaded\n%s", n, up, strings.Join(rs, "\n"))
	}
}
