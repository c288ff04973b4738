package registry

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestIsNotFound asks a real registry (docker-registry) for a tag, a
// repository and a blob it does not have: each answer is a not-found, and
// one for what it has, or an authentication failure, is not.
func TestIsNotFound(t *testing.T) {
	reg := testutil.Registry(t)
	c := New(Options{})
	ref, err := c.ParseReference(reg + "/isnotfound/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := c.RemoteOptions(t.Context())
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	_, err = remote.Get(ref, opts...)
	if err != nil || IsNotFound(err) {
		t.Fatalf("Get of a pushed image: %v (IsNotFound %v)", err, IsNotFound(err))
	}
	missingTag, _ := c.ParseReference(reg + "/isnotfound/app:nope")
	missingRepo, _ := c.ParseReference(reg + "/isnotfound/nothing:here")
	for _, r := range []name.Reference{missingTag, missingRepo} {
		_, err := remote.Get(r, opts...)
		if !IsNotFound(err) || !IsNotFound(Error(r.String(), err)) {
			t.Errorf("Get %s: %v, want a not-found", r, err)
		}
	}
	d, _ := random.Image(8, 1)
	h, _ := d.Digest()
	_, err = remote.Layer(ref.Context().Digest(h.String()), opts...)
	if err == nil {
		// ggcr's remote.Layer is lazy: the blob is asked for when read.
		l, _ := remote.Layer(ref.Context().Digest(h.String()), opts...)
		_, err = l.Compressed()
	}
	if !IsNotFound(err) {
		t.Errorf("missing blob: %v, want a not-found", err)
	}

	denied := &transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode}}}
	if IsNotFound(denied) {
		t.Error("a 404 that says DENIED is a not-found")
	}
	if IsNotFound(errors.New("connection refused")) || IsNotFound(nil) {
		t.Error("a non-registry error is a not-found")
	}
}
