package compress

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"testing"
)

// smallInput is n bytes of base64 text (compresses to 3/4).
func smallInput(n int) []byte {
	raw := make([]byte, n*3/4)
	rand.Read(raw)
	return []byte(base64.StdEncoding.EncodeToString(raw))
}

// BenchmarkCompressSmall: layers of a few files, where a fresh gzip
// writer's buffers cost more than the compression.
func BenchmarkCompressSmall(b *testing.B) {
	for _, n := range []int{55 << 10, 1 << 20} {
		in := smallInput(n)
		b.Run(byteSize(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := Compress(context.Background(), io.Discard, bytes.NewReader(in), Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecompressSmall: base layers and small layers, where the
// decoder's read-ahead buffers cost more than the decompression.
func BenchmarkDecompressSmall(b *testing.B) {
	for _, n := range []int{55 << 10, 1 << 20, 2500 << 10} {
		in := smallInput(n)
		var gz bytes.Buffer
		Compress(context.Background(), &gz, bytes.NewReader(in), Options{})
		b.Run(byteSize(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				r, err := Decompress(bytes.NewReader(gz.Bytes()))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r)
				r.Close()
			}
		})
	}
}

func byteSize(n int) string { return fmt.Sprintf("%dKiB", n>>10) }
