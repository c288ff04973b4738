package frontend

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bomb is a chain of ARGs each ten copies of the one before: ten lines
// reach 10^10 bytes. Before the word limit, the frontend took 1.3 GB of
// memory on the first eight lines (100 MB values).
func bomb(levels int, kw string) string {
	var b strings.Builder
	b.WriteString("FROM scratch\n")
	fmt.Fprintf(&b, "%s a0=0123456789\n", kw)
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "%s a%d=%s\n", kw, i, strings.Repeat(fmt.Sprintf("${a%d}", i-1), 10))
	}
	b.WriteString("COPY a /a\n")
	return b.String()
}

func TestLimitsRaised(t *testing.T) {
	many := "FROM scratch\n" + strings.Repeat("ENV A=1\n", 30)
	if _, err := Parse(context.Background(), []byte(many), Options{Limits: Limits{Instructions: 31}, Resolve: newRegistry().resolve}); err != nil {
		t.Fatalf("31 instructions under a limit of 31: %v", err)
	}
	if _, err := Parse(context.Background(), []byte(bomb(5, "ARG")), Options{Limits: Limits{WordSize: 2 << 20}, Resolve: newRegistry().resolve}); err != nil {
		t.Fatalf("a 1 MB value under a limit of 2 MiB: %v", err)
	}
}

func TestLimits(t *testing.T) {
	many := "FROM scratch\n" + strings.Repeat("ENV A=1\n", 30)
	refs := "FROM scratch\nARG big=" + strings.Repeat("x", 60000) + "\nENV x=" + strings.Repeat("$big", 200) + "\n"
	tests := []struct {
		name, dockerfile string
		limits           Limits
		key              string
		line             int
	}{
		{"ARG bomb", bomb(10, "ARG"), Limits{}, "word-size", 8},
		{"ENV bomb", bomb(10, "ENV"), Limits{}, "word-size", 8},
		{"Dockerfile size", many, Limits{DockerfileSize: 100}, "dockerfile-size", 0},
		{"instructions", many, Limits{Instructions: 10}, "instructions", 11},
		{"env size", "FROM scratch\nENV a=" + strings.Repeat("x", 600) + " b=" + strings.Repeat("y", 600) + "\n", Limits{EnvSize: 1000}, "env-size", 2},
		{"many references", refs, Limits{}, "word-size", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Parse(context.Background(), []byte(tt.dockerfile), Options{Limits: tt.limits, Resolve: newRegistry().resolve})
			took := time.Since(start)
			var le *LimitError
			if !errors.As(err, &le) || le.Key != tt.key {
				t.Fatalf("Parse: %v, want the %s limit", err, tt.key)
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Line != tt.line {
				t.Errorf("error %q names line %d, want %d", err, fe.Line, tt.line)
			}
			if !strings.Contains(err.Error(), "--limit "+tt.key) {
				t.Errorf("error %q does not say how to raise the limit", err)
			}
			if took > time.Second {
				t.Errorf("took %v, want under a second", took)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 512<<20 {
				t.Errorf("allocated %d MiB", grew>>20)
			}
		})
	}
}
