package check

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// bigDockerfile returns a Dockerfile of about n lines: stages of 100 lines
// mixing every common instruction, some of them tripping rules.
func bigDockerfile(n int) []byte {
	var b strings.Builder
	b.WriteString("# syntax=docker/dockerfile:1\nARG BASE=debian:12\nARG VERSION=1.0\n")
	lines, stage := 3, 0
	for lines < n {
		fmt.Fprintf(&b, "FROM ${BASE} AS stage%d\n", stage)
		fmt.Fprintf(&b, "ARG VERSION\nENV APP_VERSION=$VERSION PATH=/opt/bin:$PATH\nWORKDIR /src/%d\n", stage)
		lines += 4
		for i := 0; i < 12 && lines < n; i++ {
			fmt.Fprintf(&b, "RUN apt-get update && apt-get install -y pkg%d \\\n    && rm -rf /var/lib/apt/lists/*\n", i)
			fmt.Fprintf(&b, "COPY src/%d/ ./%d/\n", i, i)
			fmt.Fprintf(&b, "LABEL org.example.step%d=\"$APP_VERSION\"\n", i)
			fmt.Fprintf(&b, "RUN --mount=type=cache,target=/root/.cache make -C %d all\n", i)
			fmt.Fprintf(&b, "ENV STEP%d=done\n", i)
			fmt.Fprintf(&b, "EXPOSE %d/tcp\n", 8000+i)
			fmt.Fprintf(&b, "# step %d done\n", i)
			lines += 8
		}
		if stage > 0 {
			fmt.Fprintf(&b, "COPY --from=stage%d /src /prev\n", stage-1)
			lines++
		}
		b.WriteString("USER 1000\nCMD [\"/opt/bin/app\"]\n")
		lines += 2
		stage++
	}
	return []byte(b.String())
}

// BenchmarkCheck2000Lines measures Check on a 2,000-line Dockerfile. The
// target is under 50 ms per op; see the package tests for the ratio check.
//
//	go test -run '^$' -bench Check2000 ./frontend/check/
func BenchmarkCheck2000Lines(b *testing.B) {
	df := bigDockerfile(2000)
	if n := strings.Count(string(df), "\n"); n < 2000 {
		b.Fatalf("only %d lines", n)
	}
	b.SetBytes(int64(len(df)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(df, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckScalesLinearly guards against quadratic checks without holding
// them to a wall-clock limit: 10x the lines may cost at most 30x the time
// (linear is 10x; quadratic would be 100x). Each size takes its best of five
// interleaved rounds, so a busy machine does not fail it. Set
// BLD_CHECK_LIMIT=1 to also hold 2,000 lines to a generous 500 ms (10x the
// 50 ms target).
func TestCheckScalesLinearly(t *testing.T) {
	if testing.Short() {
		t.Skip("measures performance")
	}
	small, large := bigDockerfile(200), bigDockerfile(2000)
	best := func(df []byte, n int, prev time.Duration) time.Duration {
		start := time.Now()
		for range n {
			if _, err := Check(df, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		d := time.Since(start) / time.Duration(n)
		if prev == 0 || d < prev {
			return d
		}
		return prev
	}
	var s, l time.Duration
	for range 5 {
		s = best(small, 10, s)
		l = best(large, 1, l)
	}
	ratio := float64(l) / float64(s)
	t.Logf("200 lines: %v, 2000 lines: %v, ratio %.1f", s, l, ratio)
	if ratio > 30 {
		t.Errorf("10x the lines took %.1fx the time: something is quadratic", ratio)
	}
	if os.Getenv("BLD_CHECK_LIMIT") != "" && l > 500*time.Millisecond {
		t.Errorf("2000 lines took %v, limit 500ms", l)
	}
}
