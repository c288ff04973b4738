package check

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The expansion bomb of the frontend's limit test, linted: before the
// word limit --check alone took 596 MB on it.
func TestCheckExpansionBomb(t *testing.T) {
	for _, kw := range []string{"ARG", "ENV"} {
		var b strings.Builder
		b.WriteString("FROM scratch\n")
		fmt.Fprintf(&b, "%s a0=0123456789\n", kw)
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "%s a%d=%s\n", kw, i, strings.Repeat(fmt.Sprintf("${a%d}", i-1), 10))
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Check([]byte(b.String()), Options{})
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 8 || !strings.Contains(err.Error(), "--limit word-size") {
			t.Errorf("%s bomb: Check = %v, want a limit error at line 8", kw, err)
		}
		if took > time.Second {
			t.Errorf("%s bomb: took %v", kw, took)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
			t.Errorf("%s bomb: allocated %d MiB", kw, grew>>20)
		}
	}
}
