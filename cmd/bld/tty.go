package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

// ttyView is the live progress view on a terminal: finished steps scroll
// up as plain lines; below them the steps in flight are redrawn ten times
// a second with their elapsed time and last output line.
type ttyView struct {
	w      io.Writer
	width  int
	start  time.Time
	mu     sync.Mutex // protects the fields below
	active []*ttyStep
	drawn  int // lines of the in-flight block on screen
	done   chan struct{}
	steps  int
	cached int
}

type ttyStep struct {
	v     *dag.Vertex
	id    int
	began time.Time
	last  string
}

func newTTYView(w io.Writer, width int) *ttyView {
	if width <= 20 {
		width = 100
	}
	t := &ttyView{w: w, width: width, start: time.Now(), done: make(chan struct{})}
	go t.tick()
	return t
}

func (t *ttyView) tick() {
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tk.C:
			t.mu.Lock()
			t.redraw(nil)
			t.mu.Unlock()
		}
	}
}

// event updates the view; id is the progress number of e.Vertex.
func (t *ttyView) event(e builder.Event, id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	switch e.State {
	case builder.Started:
		t.active = append(t.active, &ttyStep{v: e.Vertex, id: id, began: e.Time})
	case builder.Log:
		if s := t.find(e.Vertex); s != nil {
			s.last = e.Line
		}
	case builder.Cached:
		t.steps++
		t.cached++
		lines = append(lines, fmt.Sprintf("=> CACHED %s", e.Vertex.Name))
	case builder.Done:
		if _, src := e.Vertex.Op.(*dag.Source); src {
			lines = append(lines, fmt.Sprintf("=> %s", e.Vertex.Name))
			break
		}
		t.steps++
		t.remove(e.Vertex)
		lines = append(lines, fmt.Sprintf("=> %s  %.1fs", e.Vertex.Name, e.Duration.Seconds()))
	case builder.Failed:
		t.remove(e.Vertex)
		lines = append(lines, fmt.Sprintf("=> ERROR %s  %.1fs", e.Vertex.Name, e.Duration.Seconds()))
	}
	t.redraw(lines)
}

func (t *ttyView) find(v *dag.Vertex) *ttyStep {
	for _, s := range t.active {
		if s.v == v {
			return s
		}
	}
	return nil
}

func (t *ttyView) remove(v *dag.Vertex) {
	for i, s := range t.active {
		if s.v == v {
			t.active = append(t.active[:i], t.active[i+1:]...)
			return
		}
	}
}

// redraw clears the in-flight block, prints the finished lines, and draws
// the block again.
func (t *ttyView) redraw(finished []string) {
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", t.drawn)
	}
	for _, l := range finished {
		b.WriteString(t.fit(l) + "\n")
	}
	t.drawn = 0
	fmt.Fprintf(&b, "\x1b[1m[+] Building %.1fs (%d steps, %d cached)\x1b[0m\n", time.Since(t.start).Seconds(), t.steps, t.cached)
	t.drawn++
	for _, s := range t.active {
		b.WriteString(t.fit(fmt.Sprintf(" => %s  %.1fs", s.v.Name, time.Since(s.began).Seconds())) + "\n")
		t.drawn++
		if s.last != "" {
			b.WriteString("\x1b[2m" + t.fit("    "+s.last) + "\x1b[0m\n")
			t.drawn++
		}
	}
	io.WriteString(t.w, b.String())
}

func (t *ttyView) fit(s string) string {
	r := []rune(s)
	if len(r) > t.width-1 {
		return string(r[:t.width-2]) + "…"
	}
	return s
}

// finish stops the ticker and leaves the final summary on screen.
func (t *ttyView) finish(lines []string) {
	close(t.done)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = nil
	t.redraw(lines)
}
