// Package progressui renders a build's progress for people and programs:
// BuildKit's plain "#N ..." lines, a live terminal view, one JSON object
// per event (rawjson), or nothing. Its key type is Printer, which
// implements build.Progress. It is a package of its own, not part of
// cmd/bld, so that any program driving builds through the build package
// can show them as bld does (as BuildKit's progressui serves buildx).
package progressui

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/term"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

// Printer renders a build's progress (build.Progress). Modes: plain (BuildKit's "#N ..." lines,
// the default when stderr is not a terminal), tty (the same lines, with
// live elapsed times on a terminal), rawjson (one JSON object per event),
// quiet (nothing; the digest still goes to stdout).
type Printer struct {
	mode  string
	w     io.Writer
	start time.Time
	mu    sync.Mutex // protects the fields below
	ids   map[*dag.Vertex]int
	began map[*dag.Vertex]time.Time
	next  int
	tty   *ttyView // the live view, in tty mode
	// export is the plain-mode number of the export, once its first
	// line is out (pushes print theirs before done); exportStart is when
	// the export began (Exporting).
	export      int
	exportStart time.Time
	// cacheID and cacheStart: the cache export in progress, whose notes
	// (Message) go under its number.
	cacheID    int
	cacheStart time.Time
}

// Mode resolves "auto": tty on a terminal, plain elsewhere (CI).
func Mode(mode string, w io.Writer) string {
	if mode == "auto" || mode == "" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	return mode
}

// New returns a Printer of mode (auto, plain, tty, rawjson, quiet) on w.
func New(mode string, w io.Writer) *Printer {
	mode = Mode(mode, w)
	p := &Printer{mode: mode, w: w, start: time.Now(), ids: map[*dag.Vertex]int{}, began: map[*dag.Vertex]time.Time{}, next: 1}
	if mode == "tty" {
		width := 0
		if f, ok := w.(*os.File); ok {
			width, _, _ = term.GetSize(int(f.Fd()))
		}
		p.tty = newTTYView(w, width)
	}
	return p
}

// rawEvent is the rawjson form of an event.
type rawEvent struct {
	ID       int     `json:"id"`
	Vertex   string  `json:"vertex"`
	Stage    string  `json:"stage,omitempty"`
	Line     int     `json:"line,omitempty"`
	State    string  `json:"state"`
	Reason   string  `json:"reason,omitempty"`
	Log      string  `json:"log,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Error    string  `json:"error,omitempty"`
	Current  int64   `json:"current,omitempty"`
	Total    int64   `json:"total,omitempty"`
	What     string  `json:"what,omitempty"`
	Time     string  `json:"time"`
}

func (p *Printer) id(v *dag.Vertex) (int, bool) {
	if id, ok := p.ids[v]; ok {
		return id, false
	}
	p.ids[v] = p.next
	p.next++
	return p.ids[v], true
}

// Event implements build.Progress.
func (p *Printer) Event(e builder.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.State == builder.Bytes && p.mode != "tty" && p.mode != "rawjson" {
		return // byte counts would swamp a log
	}
	id, first := p.id(e.Vertex)
	switch p.mode {
	case "quiet":
		return
	case "tty":
		if p.tty != nil {
			p.tty.event(e, id)
		}
		return
	case "rawjson":
		r := rawEvent{ID: id, Vertex: e.Vertex.Name, Stage: e.Vertex.Stage, Line: e.Vertex.Pos.Line, State: e.State.String(),
			Reason: e.Reason, Log: e.Line, Duration: e.Duration.Seconds(), Current: e.Current, Total: e.Total, What: e.What,
			Time: e.Time.UTC().Format(time.RFC3339Nano)}
		if e.Err != nil {
			r.Error = e.Err.Error()
		}
		b, _ := json.Marshal(r)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	if first {
		fmt.Fprintf(p.w, "#%d %s\n", id, e.Vertex.Name)
	}
	switch e.State {
	case builder.Cached:
		fmt.Fprintf(p.w, "#%d CACHED\n", id)
	case builder.Started:
		p.began[e.Vertex] = e.Time
		if e.Reason != "" {
			fmt.Fprintf(p.w, "#%d cache miss: %s\n", id, e.Reason)
		}
	case builder.Log:
		at := e.Time.Sub(p.began[e.Vertex]).Seconds()
		fmt.Fprintf(p.w, "#%d %.3f %s\n", id, at, e.Line)
	case builder.Done:
		fmt.Fprintf(p.w, "#%d DONE %.1fs\n", id, e.Duration.Seconds())
	case builder.Failed:
		msg := e.Err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		fmt.Fprintf(p.w, "#%d ERROR: %s\n", id, msg)
	case builder.Canceled:
		fmt.Fprintf(p.w, "#%d CANCELED\n", id)
	}
}

// Exporting implements build.Progress: the export starts.
func (p *Printer) Exporting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exportStart = time.Now()
	if p.tty != nil {
		p.tty.exporting()
	}
}

// sinceExport is the time the export took so far.
func (p *Printer) sinceExport() time.Duration {
	if p.exportStart.IsZero() {
		return 0
	}
	return time.Since(p.exportStart)
}

// Exported implements build.Progress: the export at the end of a build.
func (p *Printer) Exported(msg string, names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "quiet" {
		return
	}
	if p.mode == "rawjson" {
		p.next++
		p.rawLine(map[string]any{"id": p.next - 1, "vertex": "exporting to image", "state": "done", "log": msg, "names": names, "duration": p.sinceExport().Seconds()})
		return
	}
	if p.tty != nil {
		lines := []string{fmt.Sprintf("=> exporting to image  %.1fs", p.sinceExport().Seconds()), "=> " + msg}
		for _, n := range names {
			lines = append(lines, "=> naming to "+n)
		}
		p.tty.exported(lines)
		return
	}
	id := p.exportID()
	fmt.Fprintf(p.w, "#%d %s\n", id, msg)
	for _, n := range names {
		fmt.Fprintf(p.w, "#%d naming to %s\n", id, n)
	}
	fmt.Fprintf(p.w, "#%d DONE %.1fs\n", id, p.sinceExport().Seconds())
}

// cacheKind is how buildx names where a cache export goes.
func cacheKind(dest string) string {
	if strings.HasPrefix(dest, "/") || strings.HasPrefix(dest, ".") {
		return "client directory " + dest
	}
	return "registry " + dest
}

// ExportingCache implements build.Progress: a --cache-to export starts.
func (p *Printer) ExportingCache(dest string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cacheStart = time.Now()
	switch {
	case p.tty != nil:
		p.tty.cacheExport("exporting cache to "+cacheKind(dest), time.Now())
	case p.mode == "rawjson":
		p.cacheID = p.next
		p.next++
		p.rawLine(map[string]any{"id": p.cacheID, "vertex": "exporting cache to " + cacheKind(dest), "state": "started"})
	case p.mode == "quiet":
	default:
		p.cacheID = p.next
		p.next++
		fmt.Fprintf(p.w, "#%d exporting cache to %s\n", p.cacheID, cacheKind(dest))
	}
}

// ExportedCache implements build.Progress: a --cache-to export ended.
func (p *Printer) ExportedCache(dest string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	took := time.Since(p.cacheStart)
	switch {
	case p.tty != nil:
		p.tty.cacheExported(err == nil, took)
	case p.mode == "rawjson":
		r := map[string]any{"id": p.cacheID, "vertex": "exporting cache to " + cacheKind(dest), "state": "done", "duration": took.Seconds()}
		if err != nil {
			r["state"], r["error"] = "failed", err.Error()
		}
		p.rawLine(r)
	case p.mode == "quiet":
	case err != nil:
		fmt.Fprintf(p.w, "#%d ERROR: %v\n", p.cacheID, err)
	default:
		fmt.Fprintf(p.w, "#%d DONE %.1fs\n", p.cacheID, took.Seconds())
	}
	p.cacheID, p.cacheStart = 0, time.Time{}
}

// rawLine writes one rawjson object for something that is not a step.
func (p *Printer) rawLine(r map[string]any) {
	r["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(r)
	fmt.Fprintf(p.w, "%s\n", b)
}

// exportID numbers the export and prints its first line, once.
func (p *Printer) exportID() int {
	if p.export == 0 {
		p.export = p.next
		p.next++
		fmt.Fprintf(p.w, "#%d exporting to image\n", p.export)
	}
	return p.export
}

// push shows the upload updates of a push to name until updates is
// closed, and returns the last total: the image's size, or 0 if the
// registry had it already.
func (p *Printer) Pushing(name string, updates <-chan v1.Update) int64 {
	var total int64
	for u := range updates {
		if u.Error != nil {
			continue // the push returns it
		}
		total = u.Total
		p.mu.Lock()
		if p.tty != nil {
			p.tty.pushing(name, u.Complete, u.Total)
		}
		p.mu.Unlock()
	}
	return total
}

// pushed reports the end of a push to name of size bytes (0: the
// registry had the image already). A failed push prints nothing here:
// main prints the error.
func (p *Printer) Pushed(name string, size int64, took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := "pushed " + name + " " + humanSize(size)
	if size == 0 {
		msg = "pushed " + name + " (up to date)"
	}
	switch {
	case p.tty != nil:
		p.tty.pushed(name, msg, took, err == nil)
	case err != nil, p.mode == "quiet", p.mode == "rawjson":
	default:
		fmt.Fprintf(p.w, "#%d %s\n", p.exportID(), msg)
	}
}

// Message implements build.Progress: a line outside any step, or a note
// of the cache export in progress.
func (p *Printer) Message(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mode == "quiet" && !strings.HasPrefix(msg, "warning:"):
		// Notes ("loaded into docker", the cache export's) are progress,
		// which quiet hides as buildx -q does; warnings stay.
	case p.tty != nil && p.tty.inCache():
		p.tty.cacheNote(msg)
	case p.mode == "rawjson" && p.cacheID != 0:
		p.rawLine(map[string]any{"id": p.cacheID, "state": "log", "log": msg})
	case p.cacheID != 0:
		fmt.Fprintf(p.w, "#%d %s\n", p.cacheID, msg)
	default:
		fmt.Fprintln(p.w, msg)
	}
}

// Close ends the live view if the build ended without done (an error).
func (p *Printer) Close() {
	p.mu.Lock()
	t := p.tty
	p.tty = nil
	p.mu.Unlock()
	if t != nil {
		t.finish(nil)
	}
}
