package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestSkopeoReadsStore checks that skopeo reads store images by their
// full names, straight from <root>/content.
func TestSkopeoReadsStore(t *testing.T) {
	testutil.RequireTool(t, "skopeo")
	s, _ := open(t)
	img := fileImage(t, map[string]string{"etc/hello": "hi\n"})
	d := writeImage(t, s, img)
	for _, n := range []string{"app:v1", "localhost:5000/team/app:v2"} {
		if err := s.Tag(n, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"docker.io/library/app:v1", "localhost:5000/team/app:v2"} {
		out := testutil.Run(t, "skopeo", "inspect", "oci:"+s.Dir()+":"+n)
		var got struct{ Digest string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("skopeo inspect output: %v\n%s", err, out)
		}
		if got.Digest != d.Digest.String() {
			t.Errorf("skopeo inspect %s: digest %s, want %s", n, got.Digest, d.Digest)
		}
	}
}

// TestUmociUnpacksStore checks that umoci unpacks a store image by its full
// name and that the file in its layer is there.
func TestUmociUnpacksStore(t *testing.T) {
	testutil.RequireTool(t, "umoci")
	s, _ := open(t)
	img := fileImage(t, map[string]string{"etc/hello": "hi\n"})
	d := writeImage(t, s, img)
	if err := s.Tag("localhost:5000/app:v1", d); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack", "--image", s.Dir() + ":localhost:5000/app:v1", bundle}
	if os.Geteuid() != 0 {
		args = append([]string{"--rootless"}, args...)
		args[0], args[1] = args[1], args[0]
	}
	testutil.Run(t, "umoci", args...)
	b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "hello"))
	if err != nil || string(b) != "hi\n" {
		t.Errorf("unpacked etc/hello = %q, %v; want %q", b, err, "hi\n")
	}
}
