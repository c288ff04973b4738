package remotecache

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/testutil"
)

// layerStore is the fixture's layers as the local store ExportAll reads.
type layerStore struct{ f *fixture }

func (s layerStore) Layer(d v1.Descriptor, _ v1.Hash) (v1.Layer, error) { return s.f.layer(d) }

// insecure is a Transport to the test registries (plain HTTP).
var insecure = Transport{NameOptions: func(string) []name.Option { return []name.Option{name.Insecure} }}

// mountDir lays cache mounts out under root as the builder does.
func mountDir(root string) func(id string) string {
	return func(id string) string {
		sum := sha256.Sum256([]byte(id))
		return filepath.Join(root, fmt.Sprintf("%x", sum[:12]))
	}
}

// steps makes the fixture's records build steps: records 0 and 2 are the
// final image's, 1 and 3 another stage's.
func steps(f *fixture) []Step {
	var out []Step
	for i, r := range f.records {
		out = append(out, Step{Record: r, Target: i%2 == 0})
	}
	return out
}

// TestImportExportAll runs a CI pipeline's two builds through the policy
// functions, against ggcr's registry and Debian's docker-registry.
func TestImportExportAll(t *testing.T) {
	for _, reg := range []struct {
		name string
		host func(*testing.T) string
	}{{"ggcr", newRegistry}, {"docker-registry", func(t *testing.T) string { return testutil.Registry(t) }}} {
		t.Run(reg.name, func(t *testing.T) {
			ctx := t.Context()
			host := reg.host(t)
			f := newFixture(t)
			src := makeMountDir(t)
			local := filepath.Join(t.TempDir(), "lc")
			var log bytes.Buffer

			// Build 1 exports: registry mode=max with its cache mount,
			// local mode=min.
			specs, err := ParseExportSpecs([]string{
				"type=registry,ref=" + host + "/p/cache:main,mode=max,cache-mounts=true",
				"type=local,dest=" + local,
				"type=inline",
			})
			if err != nil {
				t.Fatal(err)
			}
			err = ExportAll(ctx, specs, ExportOptions{
				Transport:   insecure,
				Steps:       steps(f),
				Store:       layerStore{f},
				CacheMounts: func() (map[string]string, error) { return map[string]string{"go-build": src}, nil },
				Log:         &log,
			})
			if err != nil {
				t.Fatalf("ExportAll: %v\n%s", err, log.String())
			}
			checkSkopeo(t, local, "latest", 2)

			// Build 2 on an empty machine imports them, and two that
			// are not there.
			root := t.TempDir()
			log.Reset()
			srcs := ImportAll(ctx, []string{
				host + "/p/cache:main",
				"type=local,src=" + local,
				host + "/p/cache:nothing",
				"type=gha,url=x",
			}, ImportOptions{Transport: insecure, MountDir: mountDir(root), Log: &log})
			if len(srcs) != 2 {
				t.Fatalf("ImportAll = %d sources, want 2; log:\n%s", len(srcs), log.String())
			}
			for _, want := range []string{
				"cache-from " + host + "/p/cache:main: 4 steps\n",
				"cache-from " + local + ": 2 steps\n", // mode=min: the target's steps
				"cache-from " + host + "/p/cache:nothing: no cache there yet\n",
				`warning: cache-from "type=gha,url=x": unknown key "url" (building without it)` + "\n",
			} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("ImportAll log lacks %q:\n%s", want, log.String())
				}
			}
			checkRecords(t, srcs[0].(*Remote), f.records)
			checkRecords(t, srcs[1].(*Remote), []cache.Record{f.records[0], f.records[2]})

			// The cache mount is back, with its id beside it.
			dir := mountDir(root)("go-build")
			want, _ := tree(t, src)
			got, _ := tree(t, dir)
			if len(got) != len(want) {
				t.Errorf("restored cache mount has %d entries, want %d", len(got), len(want))
			}
			if b, err := os.ReadFile(dir + ".id"); err != nil || string(b) != "go-build" {
				t.Errorf("%s.id = %q, %v; want go-build", dir, b, err)
			}
			// A local cache mount is newer than the imported one: kept.
			must(t, os.WriteFile(filepath.Join(dir, "local"), []byte("mine"), 0o644))
			must(t, os.RemoveAll(filepath.Join(dir, "00")))
			ImportAll(ctx, []string{host + "/p/cache:main"}, ImportOptions{Transport: insecure, MountDir: mountDir(root)})
			if _, err := os.Stat(filepath.Join(dir, "00")); err == nil {
				t.Error("import overwrote a local cache mount")
			}

			// Build 2 re-exports from what it imported, in zstd: the
			// layers come from the imported cache, not the store.
			var steps2 []Step
			for _, r := range f.records {
				steps2 = append(steps2, Step{Record: r, Source: srcs[0], Target: true})
			}
			specs, _ = ParseExportSpecs([]string{"type=local,dest=" + local + ",tag=zstd,compression=zstd"})
			if err := ExportAll(ctx, specs, ExportOptions{Transport: insecure, Steps: steps2}); err != nil {
				t.Fatal(err)
			}
			r, err := Import(ctx, "type=local,src="+local+",tag=zstd", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range f.records {
				got, _ := r.Get(want.Key)
				if want.Layer == nil {
					continue
				}
				if got.Layer == nil || got.Layer.MediaType != types.OCILayerZStd || got.DiffID != want.DiffID {
					t.Errorf("zstd export of %s: layer %+v diffID %s, want zstd with diffID %s", want.CreatedBy, got.Layer, got.DiffID, want.DiffID)
					continue
				}
				checkLayer(t, r, got)
			}
		})
	}
}

func TestExportAllErrors(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	// Nothing listens on port 1 of loopback.
	for _, tc := range []struct {
		spec string
		fail bool
	}{
		{"type=registry,ref=127.0.0.1:1/x/cache:main", true},
		{"type=registry,ref=127.0.0.1:1/x/cache:main,ignore-error=true", false},
	} {
		specs, err := ParseExportSpecs([]string{tc.spec})
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		err = ExportAll(ctx, specs, ExportOptions{Transport: insecure, Steps: steps(f), Store: layerStore{f}, Log: &log})
		if tc.fail {
			if err == nil || !strings.Contains(err.Error(), "cache-to 127.0.0.1:1/x/cache:main") {
				t.Errorf("ExportAll(%s) = %v, want an error naming the cache", tc.spec, err)
			}
			continue
		}
		if err != nil || !strings.Contains(log.String(), "\nwarning: cache-to 127.0.0.1:1/x/cache:main") {
			t.Errorf("ExportAll(%s) = %v, log %q; want nil and a warning", tc.spec, err, log.String())
		}
	}
	if _, err := ParseExportSpecs([]string{"type=local,dest=/x", "type=s3"}); err == nil || !strings.HasPrefix(err.Error(), "--cache-to type=s3: ") {
		t.Errorf("ParseExportSpecs with a bad value = %v, want an error naming it", err)
	}
	// A layer neither the store nor an imported cache has fails the export.
	specs, _ := ParseExportSpecs([]string{"type=local,dest=" + t.TempDir()})
	if err := ExportAll(ctx, specs, ExportOptions{Steps: steps(f)}); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("ExportAll without a store = %v, want an error", err)
	}
}

func TestInline(t *testing.T) {
	f := newFixture(t)
	img, err := mutate.AppendLayers(empty.Image, f.layers[f.records[0].Layer.Digest], f.layers[f.records[2].Layer.Digest])
	if err != nil {
		t.Fatal(err)
	}
	none, _ := ParseExportSpecs([]string{"type=local,dest=/x"})
	if got, err := Inline(img, none, steps(f)); err != nil || got != img {
		t.Errorf("Inline without type=inline = %v, %v; want the image as is", got, err)
	}
	specs, _ := ParseExportSpecs([]string{"inline"})
	got, err := Inline(img, specs, steps(f))
	if err != nil {
		t.Fatal(err)
	}
	m, err := got.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	ml, _ := img.Manifest()
	r, err := newRemote("img", []byte(m.Annotations[InlineAnnotation]), ml, func(d v1.Descriptor, h v1.Hash) (v1.Layer, error) { return nil, nil })
	if err != nil {
		t.Fatalf("inline annotation: %v", err)
	}
	// Only the target's steps (0 and 2), not the other stage's.
	checkRecords(t, r, []cache.Record{f.records[0], f.records[2]})
}
