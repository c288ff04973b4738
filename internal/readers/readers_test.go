package readers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func digest(s string) v1.Hash {
	sum := sha256.Sum256([]byte(s))
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func TestWithContextStopsWithCause(t *testing.T) {
	cause := errors.New("the user pressed ^C")
	ctx, cancel := context.WithCancelCause(t.Context())
	r := WithContext(ctx, strings.NewReader(strings.Repeat("x", 100)))
	buf := make([]byte, 10)
	if n, err := r.Read(buf); n != 10 || err != nil {
		t.Fatalf("Read before cancel = %d, %v", n, err)
	}
	cancel(cause)
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, cause) {
		t.Fatalf("Read after cancel = %d, %v; want 0 and the cause", n, err)
	}
	// io.Copy stops too.
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, cause) {
		t.Fatalf("Copy after cancel: %v", err)
	}
}

func TestWriterWithContextStopsWithCause(t *testing.T) {
	cause := errors.New("the user pressed ^C")
	ctx, cancel := context.WithCancelCause(t.Context())
	var buf bytes.Buffer
	w := WriterWithContext(ctx, &buf)
	if n, err := w.Write([]byte("before")); n != 6 || err != nil {
		t.Fatalf("Write before cancel = %d, %v", n, err)
	}
	cancel(cause)
	if _, err := io.Copy(w, strings.NewReader("after")); !errors.Is(err, cause) {
		t.Fatalf("Copy after cancel: %v, want the cause", err)
	}
	if buf.String() != "before" {
		t.Fatalf("wrote %q, want only what came before the cancel", buf.String())
	}
}

func TestVerify(t *testing.T) {
	const content = "hello, layer"
	for _, tc := range []struct {
		name    string
		data    string
		want    v1.Hash
		size    int64
		corrupt bool
	}{
		{"good", content, digest(content), int64(len(content)), false},
		{"size unknown", content, digest(content), -1, false},
		{"other content", "hello, layeR", digest(content), int64(len(content)), true},
		{"short", content[:5], digest(content), int64(len(content)), true},
		{"longer than size", content + "!", digest(content + "!"), int64(len(content)), true},
		{"wrong size, right digest", content, digest(content), 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := Verify(io.NopCloser(strings.NewReader(tc.data)), tc.want, tc.size)
			b, err := io.ReadAll(rc)
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want.String()) {
					t.Fatalf("ReadAll = %v, want an error wrapping ErrCorrupt naming %s", err, tc.want)
				}
				return
			}
			if err != nil || !bytes.Equal(b, []byte(tc.data)) {
				t.Fatalf("ReadAll = %q, %v", b, err)
			}
		})
	}
	bad := v1.Hash{Algorithm: "md5", Hex: "00"}
	if _, err := io.ReadAll(Verify(io.NopCloser(strings.NewReader("x")), bad, -1)); err == nil {
		t.Error("Verify with an unknown algorithm: no error")
	}
}
