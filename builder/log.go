package builder

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/go-units"

	"github.com/bldbuild/bld/dag"
)

// DefaultLogLimit is the output a step may show before it is clipped:
// BuildKit's default (BUILDKIT_STEP_LOG_MAX_SIZE).
const DefaultLogLimit = 2 << 20

// maxLine is the longest line a log event carries: output without
// newlines is cut into lines of this size, so the writer never holds more.
const maxLine = 16 << 10

// tailLines is how many of the last lines a failed step's error shows.
const tailLines = 10

// logWriter turns a step's output into Log events and keeps its tail. It
// holds at most one partial line per stream (maxLine bytes) and the tail,
// and forwards at most limit bytes; the rest is counted, not kept.
type logWriter struct {
	b       *Builder
	v       *dag.Vertex
	limit   int64      // bytes shown before clipping; < 0: no limit
	mu      sync.Mutex // protects the fields below
	partial [3][]byte
	shown   int64 // bytes of output turned into events
	clipped bool
	last    []string
}

func newLogWriter(b *Builder, v *dag.Vertex) *logWriter {
	limit := b.LogLimit
	if limit == 0 {
		limit = DefaultLogLimit
	}
	return &logWriter{b: b, v: v, limit: limit}
}

// stream returns the writer of stream n (1 stdout, 2 stderr).
func (l *logWriter) stream(n int) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.write(n, p)
		return len(p), nil
	})
}

// write splits p into lines, completing the partial line of stream n.
// Each byte is looked at once: the cost is linear in the output.
func (l *logWriter) write(n int, p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		room := maxLine - len(l.partial[n])
		switch {
		case i >= 0 && i <= room:
			l.emit(n, append(l.partial[n], p[:i]...))
			l.partial[n] = l.partial[n][:0]
			p = p[i+1:]
		case len(p) < room:
			l.partial[n] = append(l.partial[n], p...)
			return
		default:
			// A line longer than maxLine: show it in pieces.
			l.emit(n, append(l.partial[n], p[:room]...))
			l.partial[n] = l.partial[n][:0]
			p = p[room:]
		}
	}
}

// emit shows one line, unless the step's output is past the limit.
func (l *logWriter) emit(n int, line []byte) {
	if l.clipped || l.limit >= 0 && l.shown+int64(len(line)) > l.limit {
		if !l.clipped {
			l.clipped = true
			l.line(n, fmt.Sprintf("[output clipped, log limit %s reached]", units.BytesSize(float64(l.limit))))
		}
		l.keep(string(line)) // a failed step's error still shows its real last lines
		return
	}
	l.shown += int64(len(line)) + 1
	l.line(n, strings.TrimRight(string(line), "\r"))
}

func (l *logWriter) line(n int, s string) {
	l.keep(s)
	l.b.emit(Event{Vertex: l.v, State: Log, Line: s, Stream: n})
}

// keep remembers s among the last tailLines lines.
func (l *logWriter) keep(s string) {
	l.last = append(l.last, s)
	if len(l.last) > tailLines {
		l.last = l.last[len(l.last)-tailLines:]
	}
}

// flush shows what is left of unfinished lines when the step ends.
func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := 1; n <= 2; n++ {
		if len(l.partial[n]) > 0 {
			l.emit(n, l.partial[n])
			l.partial[n] = nil
		}
	}
}

func (l *logWriter) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.last...)
}
