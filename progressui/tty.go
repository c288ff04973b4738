package progressui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

// ttyView is the live progress view on a terminal: finished steps scroll
// up as plain lines; below them the steps in flight are redrawn ten times
// a second with their elapsed time, last output line and byte transfers,
// then the pushes in flight.
type ttyView struct {
	w      io.Writer
	width  int
	start  time.Time
	mu     sync.Mutex // protects the fields below
	active []*ttyStep
	pushes []*ttyTransfer // What is the name pushed to
	drawn  int            // lines of the in-flight block on screen
	done   chan struct{}
	steps  int
	cached int
}

type ttyStep struct {
	v         *dag.Vertex
	id        int
	began     time.Time
	last      string
	transfers []*ttyTransfer
	// onlyBytes: shown for its transfers alone (a base image's layers
	// pulled after its Done, a cached step's layer fetched).
	onlyBytes bool
}

// ttyTransfer is a byte count in flight: a layer pulled or compressed, or
// a push.
type ttyTransfer struct {
	what           string
	current, total int64
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
	case builder.Bytes:
		s := t.find(e.Vertex)
		if s == nil {
			s = &ttyStep{v: e.Vertex, id: id, began: e.Time, onlyBytes: true}
			t.active = append(t.active, s)
		}
		s.transfers = setTransfer(s.transfers, e.What, e.Current, e.Total)
		if s.onlyBytes && len(s.transfers) == 0 {
			t.remove(e.Vertex)
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
	barWidth := max(10, min(30, t.width/4))
	for _, s := range t.active {
		b.WriteString(t.fit(fmt.Sprintf(" => %s  %.1fs", s.v.Name, time.Since(s.began).Seconds())) + "\n")
		t.drawn++
		if s.last != "" {
			b.WriteString("\x1b[2m" + t.fit("    "+s.last) + "\x1b[0m\n")
			t.drawn++
		}
		for _, x := range s.transfers {
			b.WriteString(t.fit("    "+transferLine(x.what, x.current, x.total, barWidth)) + "\n")
			t.drawn++
		}
	}
	for _, x := range t.pushes {
		b.WriteString(t.fit(" => pushing "+transferLine(x.what, x.current, x.total, barWidth)) + "\n")
		t.drawn++
	}
	io.WriteString(t.w, b.String())
}

// setTransfer updates the transfer what in ts, or adds it; the last
// report of a transfer (Current == Total) removes it.
func setTransfer(ts []*ttyTransfer, what string, current, total int64) []*ttyTransfer {
	i := slices.IndexFunc(ts, func(x *ttyTransfer) bool { return x.what == what })
	if current == total {
		if i >= 0 {
			ts = slices.Delete(ts, i, i+1)
		}
		return ts
	}
	if i < 0 {
		i = len(ts)
		ts = append(ts, &ttyTransfer{what: what})
	}
	ts[i].current, ts[i].total = current, total
	return ts
}

// pushing shows a push to name in flight.
func (t *ttyView) pushing(name string, current, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.pushes, func(x *ttyTransfer) bool { return x.what == name })
	if i < 0 {
		i = len(t.pushes)
		t.pushes = append(t.pushes, &ttyTransfer{what: name})
	}
	t.pushes[i].current, t.pushes[i].total = current, total
}

// pushed ends the push to name, with a finished line msg if ok.
func (t *ttyView) pushed(name, msg string, took time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pushes = slices.DeleteFunc(t.pushes, func(x *ttyTransfer) bool { return x.what == name })
	var lines []string
	if ok {
		lines = append(lines, fmt.Sprintf("=> %s  %.1fs", msg, took.Seconds()))
	}
	t.redraw(lines)
}

// transferLine shows a byte count: "pull 3f2a91c0a2b4  [=====>    ]
// 12.3MB / 40.1MB", or "compress  48.2MB" while the total is unknown.
// width is the number of cells inside the bar's brackets.
func transferLine(what string, current, total int64, width int) string {
	if total <= 0 {
		return fmt.Sprintf("%s  %s", what, humanSize(current))
	}
	return fmt.Sprintf("%s  %s %s / %s", what, bar(current, total, width), humanSize(current), humanSize(total))
}

// bar is a progress bar of width cells between brackets: "[====>     ]".
func bar(current, total int64, width int) string {
	n := width
	if current < total {
		n = int(max(current, 0) * int64(width) / total)
	}
	if n >= width {
		return "[" + strings.Repeat("=", width) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1) + "]"
}

// humanSize is a byte count as docker shows it: "12.3MB".
func humanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
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
	t.pushes = nil
	t.redraw(lines)
}
