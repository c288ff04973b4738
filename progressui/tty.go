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
	// seen and completed count the vertices shown so far and those that
	// ended (done, cached, failed or canceled), as BuildKit's "(5/9)".
	seen      map[*dag.Vertex]bool
	completed map[*dag.Vertex]bool
	finished  bool
}

type ttyStep struct {
	v         *dag.Vertex // nil for the export and cache export
	name      string      // the line's text when v is nil
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
	t := &ttyView{w: w, width: width, start: time.Now(), done: make(chan struct{}), seen: map[*dag.Vertex]bool{}, completed: map[*dag.Vertex]bool{}}
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
	if t.seen == nil {
		t.seen, t.completed = map[*dag.Vertex]bool{}, map[*dag.Vertex]bool{}
	}
	t.seen[e.Vertex] = true
	switch e.State {
	case builder.Cached, builder.Done, builder.Failed, builder.Canceled:
		t.completed[e.Vertex] = true
	}
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
		lines = append(lines, t.timed("=> CACHED "+e.Vertex.Name, ""))
	case builder.Done:
		if _, src := e.Vertex.Op.(*dag.Source); src {
			lines = append(lines, t.timed("=> "+e.Vertex.Name, ""))
			break
		}
		t.remove(e.Vertex)
		lines = append(lines, t.timed("=> "+e.Vertex.Name, seconds(e.Duration)))
	case builder.Failed:
		t.remove(e.Vertex)
		lines = append(lines, t.timed("=> ERROR "+e.Vertex.Name, seconds(e.Duration)))
	case builder.Canceled:
		t.remove(e.Vertex)
		lines = append(lines, t.timed("=> CANCELED "+e.Vertex.Name, seconds(e.Duration)))
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
		if s.v == v && s.v != nil {
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
	state := ""
	if t.finished {
		state = " FINISHED"
	}
	fmt.Fprintf(&b, "\x1b[1m[+] Building %.1fs (%d/%d)%s\x1b[0m\n", time.Since(t.start).Seconds(), len(t.completed), len(t.seen), state)
	t.drawn++
	barWidth := max(10, min(30, t.width/4))
	for _, s := range t.active {
		name := s.name
		if s.v != nil {
			name = s.v.Name
		}
		b.WriteString(t.timed(" => "+name, seconds(time.Since(s.began))) + "\n")
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

// seconds is a duration as the view shows it: "1.2s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// timed is a line of text and a duration that fits the width: a long text
// is cut, the duration never is.
func (t *ttyView) timed(text, dur string) string {
	if dur == "" {
		return t.fit(text)
	}
	room := t.width - 1 - len(dur) - 2
	r := []rune(text)
	if room < 10 {
		room = 10
	}
	if len(r) > room {
		text = string(r[:room-1]) + "…"
	}
	return text + "  " + dur
}

// exporting shows the export of the image in flight.
func (t *ttyView) exporting() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = append(t.active, &ttyStep{name: "exporting to image", began: time.Now()})
}

// exported ends the export with its finished lines.
func (t *ttyView) exported(lines []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = slices.DeleteFunc(t.active, func(s *ttyStep) bool { return s.v == nil && s.name == "exporting to image" })
	t.redraw(lines)
}

// cacheExport shows a cache export in flight under name.
func (t *ttyView) cacheExport(name string, began time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = append(t.active, &ttyStep{name: name, began: began})
}

// inCache reports whether a cache export is in flight.
func (t *ttyView) inCache() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.ContainsFunc(t.active, func(s *ttyStep) bool { return s.v == nil && s.name != "exporting to image" })
}

// cacheNote shows msg under the cache export in flight.
func (t *ttyView) cacheNote(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.active {
		if s.v == nil && s.name != "exporting to image" {
			s.last = msg
		}
	}
}

// cacheExported ends the cache export in flight.
func (t *ttyView) cacheExported(ok bool, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	t.active = slices.DeleteFunc(t.active, func(s *ttyStep) bool {
		if s.v != nil || s.name == "exporting to image" {
			return false
		}
		prefix := "=> "
		if !ok {
			prefix = "=> ERROR "
		}
		lines = append(lines, t.timed(prefix+s.name, seconds(took)))
		return true
	})
	t.redraw(lines)
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
	if t.completed == nil {
		t.seen, t.completed = map[*dag.Vertex]bool{}, map[*dag.Vertex]bool{}
	}
	// What is still in flight ends with the build: an interrupted
	// build's steps stay on screen, marked CANCELED (as BuildKit's).
	for _, s := range t.active {
		if s.v == nil || s.onlyBytes {
			continue
		}
		lines = append(lines, t.timed("=> CANCELED "+s.v.Name, seconds(time.Since(s.began))))
		t.completed[s.v] = true
	}
	t.active = nil
	t.pushes = nil
	t.finished = true
	t.redraw(lines)
}
