package readers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

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
	// big spans several of WriteTo's chunks and is not a multiple of one.
	big := strings.Repeat("0123456789abcdef", (3*verifyChunk+1000)/16)
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
		{"big", big, digest(big), int64(len(big)), false},
		{"big, last byte changed", big[:len(big)-1] + "x", digest(big), int64(len(big)), true},
		{"big, first byte changed", "x" + big[1:], digest(big), -1, true},
		{"big, longer than size", big + "!", digest(big + "!"), int64(len(big)), true},
		{"empty", "", digest(""), 0, false},
	} {
		// Read through Read (io.ReadAll), through WriteTo (io.Copy, the
		// pipelined hash), and through WriteTo from a reader that returns
		// its data together with io.EOF.
		for _, mode := range []string{"Read", "WriteTo", "WriteTo, data with EOF"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tc.data)
				if mode == "WriteTo, data with EOF" {
					src = iotest.DataErrReader(src)
				}
				rc := Verify(io.NopCloser(src), tc.want, tc.size)
				var b []byte
				var err error
				if mode == "Read" {
					b, err = io.ReadAll(rc)
				} else {
					if _, ok := rc.(io.WriterTo); !ok {
						t.Fatal("Verify's reader is no io.WriterTo")
					}
					var buf bytes.Buffer
					_, err = io.Copy(&buf, rc)
					b = buf.Bytes()
				}
				if tc.size >= 0 && int64(len(b)) > tc.size {
					t.Errorf("%d bytes passed, more than the size %d", len(b), tc.size)
				}
				if tc.corrupt {
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want.String()) {
						t.Fatalf("copy = %v, want an error wrapping ErrCorrupt naming %s", err, tc.want)
					}
					return
				}
				if err != nil || !bytes.Equal(b, []byte(tc.data)) {
					t.Fatalf("copy = %d bytes, %v; want %d bytes", len(b), err, len(tc.data))
				}
			})
		}
	}
	bad := v1.Hash{Algorithm: "md5", Hex: "00"}
	if _, err := io.ReadAll(Verify(io.NopCloser(strings.NewReader("x")), bad, -1)); err == nil {
		t.Error("Verify with an unknown algorithm: no error")
	}
	if _, err := io.Copy(io.Discard, Verify(io.NopCloser(strings.NewReader("x")), bad, -1)); err == nil {
		t.Error("Verify with an unknown algorithm, io.Copy: no error")
	}
}

// A failing writer or reader ends WriteTo with that error, not a digest
// mismatch, and without leaking the hashing goroutine.
func TestVerifyWriteToErrors(t *testing.T) {
	data := strings.Repeat("x", 2*verifyChunk+5)
	errWrite := errors.New("disk full")
	w := &failAfter{n: verifyChunk + 3, err: errWrite}
	n, err := io.Copy(w, Verify(io.NopCloser(strings.NewReader(data)), digest(data), int64(len(data))))
	if !errors.Is(err, errWrite) || n != int64(verifyChunk+3) {
		t.Errorf("io.Copy to a failing writer = %d, %v; want %d, %v", n, err, verifyChunk+3, errWrite)
	}
	errRead := errors.New("read failed")
	r := io.MultiReader(strings.NewReader(data[:verifyChunk]), iotest.ErrReader(errRead))
	if _, err := io.Copy(io.Discard, Verify(io.NopCloser(r), digest(data), -1)); !errors.Is(err, errRead) {
		t.Errorf("io.Copy from a failing reader = %v, want %v", err, errRead)
	}
}

// failAfter accepts n bytes, then fails with err.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	m := f.n
	f.n = 0
	return m, f.err
}

// BenchmarkVerifyCopy copies a 64 MiB file through Verify into another
// file, as an export copies a store blob into an OCI tar: io.Copy (WriteTo,
// hashing on a second goroutine) against a Read loop (hashing inline).
func BenchmarkVerifyCopy(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	src := filepath.Join(dir, "blob")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	want := digest(string(data))
	for _, mode := range []string{"WriteTo", "Read"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := os.Open(src)
				if err != nil {
					b.Fatal(err)
				}
				out, err := os.Create(filepath.Join(dir, "out"))
				if err != nil {
					b.Fatal(err)
				}
				var r io.Reader = Verify(f, want, int64(len(data)))
				if mode == "Read" {
					r = struct{ io.Reader }{r} // hides WriteTo
				}
				if _, err := io.Copy(struct{ io.Writer }{out}, r); err != nil {
					b.Fatal(err)
				}
				f.Close()
				out.Close()
			}
		})
	}
}
