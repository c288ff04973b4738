package progressui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		current, total int64
		width          int
		want           string
	}{
		{0, 100, 10, "[>         ]"},
		{50, 100, 10, "[=====>    ]"},
		{99, 100, 10, "[=========>]"},
		{100, 100, 10, "[==========]"},
		{150, 100, 10, "[==========]"},
		{-1, 100, 4, "[>   ]"},
		{1, 3, 1, "[>]"},
		{1 << 40, 1 << 41, 20, "[==========>         ]"},
	} {
		got := bar(tc.current, tc.total, tc.width)
		if got != tc.want {
			t.Errorf("bar(%d, %d, %d) = %q, want %q", tc.current, tc.total, tc.width, got, tc.want)
		}
		if n := len(got); n != tc.width+2 {
			t.Errorf("bar(%d, %d, %d) is %d wide, want %d", tc.current, tc.total, tc.width, n, tc.width+2)
		}
	}
}

func TestTransferLine(t *testing.T) {
	for _, tc := range []struct {
		what           string
		current, total int64
		want           string
	}{
		{"pull 3f2a91c0a2b4", 12_300_000, 40_100_000, "pull 3f2a91c0a2b4  [===>      ] 12.3MB / 40.1MB"},
		{"compress", 48_200_000, 0, "compress  48.2MB"},
		{"compress", 0, 0, "compress  0B"},
		{"app:1", 9_800_000, 9_800_000, "app:1  [==========] 9.8MB / 9.8MB"},
	} {
		if got := transferLine(tc.what, tc.current, tc.total, 10); got != tc.want {
			t.Errorf("transferLine(%q, %d, %d) = %q, want %q", tc.what, tc.current, tc.total, got, tc.want)
		}
	}
}

// TestTTYTransfers: a step in flight shows its transfer under it until the
// last report; a pull after its Source's Done shows on its own.
func TestTTYTransfers(t *testing.T) {
	var out bytes.Buffer
	tv := &ttyView{w: &out, width: 100, start: time.Now(), done: make(chan struct{})}
	src := &dag.Vertex{Name: "[1/2] FROM busybox", Op: &dag.Source{Ref: "busybox"}}
	step := &dag.Vertex{Name: "[2/2] COPY big /", Op: &dag.Copy{}}
	now := time.Now()
	frame := func() string {
		out.Reset()
		tv.mu.Lock()
		tv.redraw(nil)
		tv.mu.Unlock()
		return out.String()
	}

	tv.event(builder.Event{Vertex: src, State: builder.Done, Time: now}, 1)
	tv.event(builder.Event{Vertex: src, State: builder.Bytes, What: "pull 3f2a91c0a2b4", Current: 5 << 20, Total: 10 << 20, Time: now}, 1)
	if f := frame(); !strings.Contains(f, " => [1/2] FROM busybox") || !strings.Contains(f, "    pull 3f2a91c0a2b4  [") {
		t.Errorf("pull in flight not shown:\n%s", f)
	}
	tv.event(builder.Event{Vertex: src, State: builder.Bytes, What: "pull 3f2a91c0a2b4", Current: 10 << 20, Total: 10 << 20, Time: now}, 1)
	if f := frame(); strings.Contains(f, "FROM busybox") {
		t.Errorf("finished pull still shown:\n%s", f)
	}

	tv.event(builder.Event{Vertex: step, State: builder.Started, Time: now}, 2)
	tv.event(builder.Event{Vertex: step, State: builder.Bytes, What: "compress", Current: 48_200_000, Time: now}, 2)
	if f := frame(); !strings.Contains(f, " => [2/2] COPY big /") || !strings.Contains(f, "\n    compress  48.2MB\n") {
		t.Errorf("compress in flight not shown:\n%s", f)
	}
	tv.event(builder.Event{Vertex: step, State: builder.Done, Time: now}, 2)
	if f := frame(); strings.Contains(f, "compress") {
		t.Errorf("done step's transfer still shown:\n%s", f)
	}

	tv.pushing("localhost:5000/app:1", 3_100_000, 9_800_000)
	if f := frame(); !strings.Contains(f, " => pushing localhost:5000/app:1  [") || !strings.Contains(f, "3.1MB / 9.8MB") {
		t.Errorf("push in flight not shown:\n%s", f)
	}
	out.Reset()
	tv.pushed("localhost:5000/app:1", "pushed localhost:5000/app:1 9.8MB", time.Second, true)
	if f := out.String(); !strings.Contains(f, "=> pushed localhost:5000/app:1 9.8MB  1.0s\n") || strings.Contains(f, "pushing") {
		t.Errorf("finished push:\n%s", f)
	}
}

// TestTTYCounterAndNames: the header counts every vertex shown and those
// ended, as BuildKit's "(5/5)" (it said "(0 steps, 0 cached)" while steps
// ran and "(4 steps...)" for five); a long step name is cut, its duration
// never is; a step still in flight when the build ends stays, CANCELED.
func TestTTYCounterAndNames(t *testing.T) {
	var out bytes.Buffer
	tv := &ttyView{w: &out, width: 60, start: time.Now(), done: make(chan struct{})}
	src := &dag.Vertex{Name: "[1/5] FROM busybox", Op: &dag.Source{Ref: "busybox"}}
	long := &dag.Vertex{Name: "[2/5] RUN " + strings.Repeat("apt-get install -y very-long-package-name ", 4), Op: &dag.Run{}}
	cached := &dag.Vertex{Name: "[3/5] COPY a /a", Op: &dag.Copy{}}
	third := &dag.Vertex{Name: "[4/5] RUN true", Op: &dag.Run{}}
	last := &dag.Vertex{Name: "[5/5] RUN sleep 100", Op: &dag.Run{}}
	now := time.Now()

	tv.event(builder.Event{Vertex: src, State: builder.Done, Time: now}, 1)
	tv.event(builder.Event{Vertex: long, State: builder.Started, Time: now}, 2)
	if f := out.String(); !strings.Contains(f, "(1/2)") {
		t.Errorf("one of two vertices ended, header:\n%s", f)
	}
	out.Reset()
	tv.event(builder.Event{Vertex: long, State: builder.Done, Duration: 12300 * time.Millisecond, Time: now}, 2)
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if i := strings.Index(l, "=> [2/5]"); i >= 0 {
			line = l[i:]
		}
	}
	if !strings.HasSuffix(line, "…  12.3s") || len([]rune(line)) > 59 {
		t.Errorf("long step's line %q: want it cut to the width with its duration kept", line)
	}
	tv.event(builder.Event{Vertex: cached, State: builder.Cached, Time: now}, 3)
	tv.event(builder.Event{Vertex: third, State: builder.Started, Time: now}, 4)
	tv.event(builder.Event{Vertex: third, State: builder.Done, Time: now}, 4)
	tv.event(builder.Event{Vertex: last, State: builder.Started, Time: now}, 5)
	out.Reset()
	tv.finish(nil)
	f := out.String()
	if !strings.Contains(f, "=> CANCELED [5/5] RUN sleep 100") {
		t.Errorf("step in flight at the end not kept as CANCELED:\n%s", f)
	}
	if !strings.Contains(f, "(5/5) FINISHED") {
		t.Errorf("final header should count five of five:\n%s", f)
	}
}
