package fscopy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// smallTree makes n small files (100 B to 4 KiB) in directories of 100.
func smallTree(b *testing.B, n int) string {
	b.Helper()
	src := filepath.Join(b.TempDir(), "src")
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := range n {
		d := filepath.Join(src, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		size := 100 + (i*37)%3997
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return src
}

// BenchmarkCopy20k copies 20,000 small files with Copy and with cp -a, in
// the same run, so the two can be compared (target: within 2x of cp -a).
func BenchmarkCopy20k(b *testing.B) {
	src := smallTree(b, 20000)
	out := b.TempDir()
	run := func(b *testing.B, copy func(dst string) error) {
		for i := 0; i < b.N; i++ {
			dst := filepath.Join(out, fmt.Sprint(i))
			if err := copy(dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := os.RemoveAll(dst); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.Run("fscopy", func(b *testing.B) {
		run(b, func(dst string) error {
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
			return Copy(b.Context(), Source{Dir: src}, []string{"."}, dst, "/app", Options{})
		})
	})
	b.Run("cp-a", func(b *testing.B) {
		if _, err := exec.LookPath("cp"); err != nil {
			b.Skip("no cp")
		}
		run(b, func(dst string) error {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			return exec.Command("cp", "-a", src, filepath.Join(dst, "app")).Run()
		})
	})
}

// BenchmarkChecksum20k hashes 20,000 small files, cold and with a warm
// stat cache.
func BenchmarkChecksum20k(b *testing.B) {
	src := smallTree(b, 20000)
	ageFiles(b, time.Hour) // old enough for the stat cache
	s := Source{Dir: src, IsContext: true}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := Checksum(b.Context(), s, []string{"."}, Options{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("statcache", func(b *testing.B) {
		sc, err := OpenStatCache(filepath.Join(b.TempDir(), "sc"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Checksum(b.Context(), s, []string{"."}, Options{}, sc); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := Checksum(b.Context(), s, []string{"."}, Options{}, sc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
