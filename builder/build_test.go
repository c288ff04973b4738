package builder_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/sandbox"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// fakeRunner stands in for sandbox.Run. A RUN is ["/bin/sh", "-c", cmd];
// cmd is commands joined by " && ", each one of:
//
//	true                  do nothing
//	write PATH TEXT       write TEXT to PATH (parents created)
//	mkdir PATH            create directory PATH
//	exists PATH           fail unless PATH exists
//	sleep DURATION        sleep, returning early when ctx is done
//	fail                  fail with errBoom
//
// funcs overrides the interpretation of a whole cmd.
type fakeRunner struct {
	n     atomic.Int64 // executions
	mu    sync.Mutex   // protects the fields below
	count map[string]int
	env   map[string][]string // the last Env each cmd ran with
	funcs map[string]func(ctx context.Context, root string) error
}

var errBoom = errors.New("boom")

func newFakeRunner() *fakeRunner {
	return &fakeRunner{count: map[string]int{}, env: map[string][]string{}, funcs: map[string]func(context.Context, string) error{}}
}

func (f *fakeRunner) Run(ctx context.Context, spec sandbox.Spec) error {
	f.n.Add(1)
	if len(spec.Args) != 3 || spec.Args[0] != "/bin/sh" || spec.Args[1] != "-c" {
		return fmt.Errorf("fake runner: unexpected args %q", spec.Args)
	}
	if len(spec.Root) != 1 || spec.Root[0].Type != "bind" {
		return fmt.Errorf("fake runner: unexpected root %+v", spec.Root)
	}
	root, cmd := spec.Root[0].Source, spec.Args[2]
	f.mu.Lock()
	f.count[cmd]++
	f.env[cmd] = spec.Env
	fn := f.funcs[cmd]
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, root)
	}
	for _, c := range strings.Split(cmd, " && ") {
		if err := interpret(ctx, root, c); err != nil {
			return err
		}
	}
	return nil
}

func interpret(ctx context.Context, root, c string) error {
	w := strings.SplitN(c, " ", 3)
	p := func() string { return filepath.Join(root, w[1]) }
	switch {
	case w[0] == "true":
		return nil
	case w[0] == "fail":
		return errBoom
	case w[0] == "write" && len(w) == 3:
		if err := os.MkdirAll(filepath.Dir(p()), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p(), []byte(w[2]), 0o644)
	case w[0] == "mkdir" && len(w) == 2:
		return os.MkdirAll(p(), 0o755)
	case w[0] == "exists" && len(w) == 2:
		_, err := os.Lstat(p())
		return err
	case w[0] == "sleep" && len(w) == 2:
		d, err := time.ParseDuration(w[1])
		if err != nil {
			return err
		}
		return sleep(ctx, d)
	}
	return fmt.Errorf("fake runner: unknown command %q", c)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeRunner) runs(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[cmd]
}

// graph makes vertices by hand, numbering their lines in creation order.
type graph struct{ line int }

func (g *graph) add(parent *dag.Vertex, stage string, op dag.Op, text string, inputs ...*dag.Vertex) *dag.Vertex {
	g.line++
	if parent != nil {
		stage = parent.Stage
		inputs = append([]*dag.Vertex{parent}, inputs...)
	}
	return &dag.Vertex{
		Op:     op,
		Inputs: inputs,
		Name:   fmt.Sprintf("[%s %d] %s", stage, g.line, text),
		Stage:  stage,
		Pos:    dag.Pos{File: "Dockerfile", Line: g.line},
	}
}

func (g *graph) from(stage string) *dag.Vertex {
	return g.add(nil, stage, &dag.Source{}, "FROM scratch")
}

func (g *graph) run(parent *dag.Vertex, cmd string, env ...string) *dag.Vertex {
	return g.add(parent, "", &dag.Run{Args: []string{"/bin/sh", "-c", cmd}, Env: env}, "RUN "+cmd)
}

func (g *graph) copyCtx(parent *dag.Vertex, src, dest string) *dag.Vertex {
	return g.add(parent, "", &dag.Copy{Sources: []string{src}, Dest: dest}, "COPY "+src+" "+dest)
}

func (g *graph) copyFrom(parent, from *dag.Vertex, src, dest string) *dag.Vertex {
	return g.add(parent, "", &dag.Copy{Sources: []string{src}, Dest: dest, From: from.Stage},
		"COPY --from="+from.Stage+" "+src+" "+dest, from)
}

func (g *graph) workdir(parent *dag.Vertex, path string) *dag.Vertex {
	return g.add(parent, "", &dag.Mkdir{Path: path}, "WORKDIR "+path)
}

// env is the state of a builder that outlives one Build: a context
// directory and the state directories, reopened for every Build as a new
// process would.
type env struct {
	t      *testing.T
	state  string
	ctxDir string
	runner *fakeRunner
}

func newEnv(t *testing.T, files map[string]string) *env {
	t.Helper()
	e := &env{t: t, state: t.TempDir(), ctxDir: t.TempDir(), runner: newFakeRunner()}
	for name, data := range files {
		e.write(name, data)
	}
	return e
}

func (e *env) write(name, data string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.ctxDir, name), []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// events collects a Build's progress.
type events struct {
	mu  sync.Mutex // protects all
	all []builder.Event
}

func (ev *events) add(e builder.Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.all = append(ev.all, e)
}

// started returns the lines of the steps that executed, with the reasons
// they missed the cache.
func (ev *events) started() map[int]string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := map[int]string{}
	for _, e := range ev.all {
		if e.State == builder.Started {
			out[e.Vertex.Pos.Line] = e.Reason
		}
	}
	return out
}

func (ev *events) startedLines() []int {
	var lines []int
	for l := range ev.started() {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return lines
}

// builder returns a Builder over e's state, opened afresh.
func (e *env) builder(ev *events, opts ...func(*builder.Builder)) *builder.Builder {
	e.t.Helper()
	snaps, err := snapshot.NewNative(filepath.Join(e.state, "snapshots"))
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(e.state, "store"))
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(e.state, "cache"))
	if err != nil {
		e.t.Fatal(err)
	}
	b := &builder.Builder{
		Snapshots: snaps,
		Cache:     c,
		Store:     st,
		Context:   e.ctxDir,
		Image: func(context.Context, *dag.Source) (v1.Image, error) {
			e.t.Error("Image called for scratch")
			return nil, errors.New("no images in this test")
		},
		Run:         e.runner.Run,
		Jobs:        4,
		Scope:       "test",
		Progress:    ev.add,
		WorkDir:     filepath.Join(e.state, "tmp"),
		CacheMounts: filepath.Join(e.state, "mounts"),
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// build runs one Build and returns its result, its events and the number
// of RUN executions it made.
func (e *env) build(target *dag.Vertex, opts ...func(*builder.Builder)) (*builder.Result, *events, int, error) {
	e.t.Helper()
	ev := &events{}
	before := e.runner.n.Load()
	res, err := e.builder(ev, opts...).Build(e.t.Context(), target)
	return res, ev, int(e.runner.n.Load() - before), err
}

func (e *env) mustBuild(target *dag.Vertex, opts ...func(*builder.Builder)) (*builder.Result, *events, int) {
	e.t.Helper()
	res, ev, n, err := e.build(target, opts...)
	if err != nil {
		e.t.Fatalf("Build: %v", err)
	}
	return res, ev, n
}

func jobs(n int) func(*builder.Builder) { return func(b *builder.Builder) { b.Jobs = n } }

// TestRebuildRunsNothing: a second Build of the same graph, by a fresh
// Builder, runs no step and returns the same layers.
func TestRebuildRunsNothing(t *testing.T) {
	e := newEnv(t, map[string]string{"src.txt": "source"})
	g := &graph{}
	lib := g.run(g.from("lib"), "write /lib/a.so lib")
	v := g.copyCtx(g.from("main"), "src.txt", "/src.txt")
	v = g.run(v, "mkdir /app && write /app/x y")
	v = g.workdir(v, "/app")
	v = g.run(v, "write /app/out built")
	target := g.copyFrom(v, lib, "/lib/a.so", "/app/a.so")

	r1, _, n1 := e.mustBuild(target)
	if n1 != 3 {
		t.Fatalf("first build: %d runs, want 3", n1)
	}
	r2, ev2, n2 := e.mustBuild(target)
	if n2 != 0 {
		t.Errorf("second build: %d runs, want 0", n2)
	}
	if s := ev2.started(); len(s) != 0 {
		t.Errorf("second build started steps %v, want none", s)
	}
	for _, v := range target.Chain() {
		s2, ok := r2.Steps[v]
		if !ok {
			t.Errorf("%s: no step in the second result", v.Name)
			continue
		}
		if _, src := v.Op.(*dag.Source); src {
			continue
		}
		s1 := r1.Steps[v]
		if !s2.Cached || s1.Cached {
			t.Errorf("%s: cached %v then %v, want false then true", v.Name, s1.Cached, s2.Cached)
		}
		if s1.Key != s2.Key {
			t.Errorf("%s: key %s then %s", v.Name, s1.Key, s2.Key)
		}
		if (s1.Layer == nil) != (s2.Layer == nil) || s1.Layer != nil && s1.Layer.Digest != s2.Layer.Digest {
			t.Errorf("%s: layer %v then %v", v.Name, s1.Layer, s2.Layer)
		}
		if s1.DiffID != s2.DiffID {
			t.Errorf("%s: diffID %s then %s", v.Name, s1.DiffID, s2.DiffID)
		}
	}
	if r1.Steps[target].Layer == nil {
		t.Errorf("%s: no layer", target.Name)
	}
	ev2.mu.Lock()
	defer ev2.mu.Unlock()
	cached := 0
	for _, ev := range ev2.all {
		if ev.State == builder.Cached {
			cached++
		}
	}
	// Every step of the chain but its FROM, and the lib stage's RUN: a
	// cached build lists each step CACHED, as BuildKit does, even one only
	// a cached later step needs (and that is never restored).
	if want := len(target.Chain()) - 1 + 1; cached != want {
		t.Errorf("second build: %d Cached events, want %d", cached, want)
	}
}

// TestWarmSandbox: a build whose plan has a RUN step to run warms the
// sandbox (Builder.WarmSandbox, once, before the first step starts); a
// rebuild that runs nothing, or a build with no RUN to run, does not pay
// for it.
func TestWarmSandbox(t *testing.T) {
	e := newEnv(t, map[string]string{"src.txt": "source"})
	g := &graph{}
	copied := g.copyCtx(g.from("main"), "src.txt", "/src.txt")
	target := g.run(copied, "write /out built")
	var warms atomic.Int32
	var startedBefore atomic.Int32 // steps started when it was called
	var ev *events
	warm := func(b *builder.Builder) {
		b.WarmSandbox = func() {
			warms.Add(1)
			if ev != nil {
				startedBefore.Add(int32(len(ev.started())))
			}
		}
	}
	for _, tc := range []struct {
		name   string
		target *dag.Vertex
		want   int32
	}{
		{"COPY then RUN", target, 1},
		{"rebuild", target, 0},
		{"no RUN", g.copyCtx(g.from("other"), "src.txt", "/other.txt"), 0},
	} {
		warms.Store(0)
		ev = &events{}
		if _, err := e.builder(ev, warm).Build(t.Context(), tc.target); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := warms.Load(); got != tc.want {
			t.Errorf("%s: WarmSandbox called %d times, want %d", tc.name, got, tc.want)
		}
	}
	if n := startedBefore.Load(); n != 0 {
		t.Errorf("WarmSandbox called after %d steps had started, want before any", n)
	}
}

// TestContextChange: changing a context file re-runs its COPY and what
// follows it in the chain, never a sibling stage; a new mtime alone is a hit.
func TestContextChange(t *testing.T) {
	// Lines: 1 FROM side, 2 RUN side, 3 FROM main, 4 COPY f1, 5 RUN r1,
	// 6 COPY f2, 7 RUN r2, 8 COPY --from=side.
	mk := func() *dag.Vertex {
		g := &graph{}
		side := g.run(g.from("side"), "write /s side")
		v := g.copyCtx(g.from("main"), "f1", "/f1")
		v = g.run(v, "write /r1 r1")
		v = g.copyCtx(v, "f2", "/f2")
		v = g.run(v, "write /r2 r2")
		return g.copyFrom(v, side, "/s", "/s")
	}
	for _, tc := range []struct {
		name   string
		change func(e *env)
		want   []int
	}{
		{"change f2", func(e *env) { e.write("f2", "two, changed") }, []int{6, 7, 8}},
		{"change f1", func(e *env) { e.write("f1", "one, changed") }, []int{4, 5, 6, 7, 8}},
		{"touch f1", func(e *env) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(e.ctxDir, "f1"), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"f1": "one", "f2": "two"})
			target := mk()
			e.mustBuild(target)
			tc.change(e)
			_, ev, _ := e.mustBuild(target)
			if got := ev.startedLines(); !slices.Equal(got, tc.want) {
				t.Errorf("re-ran lines %v, want %v", got, tc.want)
			}
			if n := e.runner.runs("write /s side"); n != 1 {
				t.Errorf("sibling stage ran %d times in two builds, want 1", n)
			}
		})
	}
}

// TestParallelStages: independent stages run concurrently, up to Jobs, and
// a vertex shared by two stages runs once.
//
// The bound is on the span of the two sleeping RUNs (first start to last
// end), not on the whole Build: per-step work (snapshot copies, fsyncs of
// records and blobs) is not what this checks, and on a loaded machine it
// alone can exceed the slack.
func TestParallelStages(t *testing.T) {
	const nap = 300 * time.Millisecond
	for _, tc := range []struct {
		jobs     int
		min, max time.Duration // of the sleeping span
		overlap  int           // most RUNs running at once
	}{
		{jobs: 1, min: 2 * nap, max: time.Hour, overlap: 1},
		{jobs: 2, min: nap, max: 2 * nap, overlap: 2},
		{jobs: 8, min: nap, max: 2 * nap, overlap: 2},
	} {
		t.Run(fmt.Sprintf("jobs=%d", tc.jobs), func(t *testing.T) {
			e := newEnv(t, nil)
			var (
				mu          sync.Mutex
				cur, most   int
				first, last time.Time
			)
			napper := func(file string) func(context.Context, string) error {
				return func(ctx context.Context, root string) error {
					mu.Lock()
					cur++
					most = max(most, cur)
					if now := time.Now(); first.IsZero() || now.Before(first) {
						first = now
					}
					mu.Unlock()
					err := sleep(ctx, nap)
					mu.Lock()
					cur--
					last = time.Now()
					mu.Unlock()
					if err != nil {
						return err
					}
					return os.WriteFile(filepath.Join(root, file), []byte(file), 0o644)
				}
			}
			e.runner.funcs["nap a"] = napper("a")
			e.runner.funcs["nap b"] = napper("b")

			g := &graph{}
			common := g.run(g.from("base"), "write /common c")
			a := g.run(common, "nap a") // two stages on one vertex
			a.Stage = "a"
			b := g.run(common, "nap b")
			b.Stage = "b"
			v := g.copyFrom(g.from("final"), a, "/a", "/a")
			v = g.copyFrom(v, b, "/b", "/b")
			target := g.copyFrom(v, a, "/common", "/common") // a second path to a

			start := time.Now()
			_, _, n := e.mustBuild(target, jobs(tc.jobs))
			t.Logf("build took %v", time.Since(start))
			if span := last.Sub(first); span < tc.min || span >= tc.max {
				t.Errorf("the sleeping RUNs spanned %v, want in [%v, %v)", span, tc.min, tc.max)
			}
			if most != tc.overlap {
				t.Errorf("at most %d RUNs at once, want %d", most, tc.overlap)
			}
			if n != 3 {
				t.Errorf("%d runs, want 3", n)
			}
			for _, cmd := range []string{"write /common c", "nap a", "nap b"} {
				if got := e.runner.runs(cmd); got != 1 {
					t.Errorf("%q ran %d times, want 1", cmd, got)
				}
			}
		})
	}
}

// TestLazyCopyFrom: a cached COPY --from does not build the stage it copies
// from, even when that stage's own record is gone.
func TestLazyCopyFrom(t *testing.T) {
	mk := func(val string) (x, target *dag.Vertex) {
		g := &graph{}
		x = g.run(g.from("x"), "write /x x")
		v := g.copyFrom(g.from("final"), x, "/x", "/x")
		return x, g.run(v, "write /y y", "V="+val)
	}
	for _, tc := range []struct {
		name    string
		val     string
		wantRun int // runs of the final stage's RUN in the second build
	}{
		{"all cached", "1", 0},
		{"later step misses", "2", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			x, target := mk("1")
			r1, _, _ := e.mustBuild(target)
			c, err := cache.Open(filepath.Join(e.state, "cache"))
			if err != nil {
				t.Fatal(err)
			}
			k := r1.Steps[x].Key
			if _, err := c.Get(k); err != nil {
				t.Fatalf("record of %s: %v", x.Name, err)
			}
			if err := c.Delete(k); err != nil {
				t.Fatal(err)
			}
			x, target = mk(tc.val)
			r2, _, _ := e.mustBuild(target)
			if n := e.runner.runs("write /x x"); n != 1 {
				t.Errorf("stage x ran %d times in two builds, want 1", n)
			}
			if n := e.runner.runs("write /y y"); n != 1+tc.wantRun {
				t.Errorf("final RUN ran %d times in two builds, want %d", n, 1+tc.wantRun)
			}
			if s, ok := r2.Steps[x]; ok && !s.Cached {
				t.Errorf("%s: in the result as executed", x.Name)
			}
		})
	}
}

// TestFirstFailureCancels: a failing step cancels a running sibling, and
// Build returns the failure, located, promptly.
func TestFirstFailureCancels(t *testing.T) {
	e := newEnv(t, nil)
	g := &graph{}
	slow := g.run(g.from("slow"), "slow") // line 2
	bad := g.run(g.from("bad"), "fail")   // line 4
	v := g.copyFrom(g.from("final"), slow, "/", "/slow/")
	target := g.copyFrom(v, bad, "/", "/bad/")

	sleeping := make(chan struct{})
	slowDone := make(chan error, 1)
	e.runner.funcs["slow"] = func(ctx context.Context, root string) error {
		close(sleeping)
		err := sleep(ctx, 10*time.Second)
		slowDone <- err
		return err
	}
	e.runner.funcs["fail"] = func(ctx context.Context, root string) error {
		select { // fail while the slow step runs
		case <-sleeping:
		case <-time.After(2 * time.Second):
		}
		return errBoom
	}
	start := time.Now()
	_, ev, _, err := e.build(target, jobs(2))
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Build took %v, want < 3s", d)
	}
	var se *builder.StepError
	if !errors.As(err, &se) {
		t.Fatalf("Build error %v (%T), want a *StepError", err, err)
	}
	if se.Pos != bad.Pos || se.Instruction != "RUN fail" {
		t.Errorf("StepError at %s %q, want %s %q", se.Pos, se.Instruction, bad.Pos, "RUN fail")
	}
	if !errors.Is(err, errBoom) || errors.Is(err, context.Canceled) {
		t.Errorf("Build error %v, want errBoom and not context.Canceled", err)
	}
	select {
	case err := <-slowDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("slow step returned %v, want it cancelled", err)
		}
	default:
		t.Errorf("slow step had not returned when Build did")
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, x := range ev.all {
		if x.State == builder.Failed && x.Vertex != bad {
			t.Errorf("Failed event for %s, want only %s", x.Vertex.Name, bad.Name)
		}
	}
}

// TestFailOnMiss: with FailOnMiss, a miss fails the build before any step runs.
func TestFailOnMiss(t *testing.T) {
	mk := func() *dag.Vertex {
		g := &graph{}
		side := g.run(g.from("side"), "write /s s")
		v := g.copyCtx(g.from("main"), "f", "/f")
		v = g.run(v, "write /r r")
		return g.copyFrom(v, side, "/s", "/s")
	}
	for _, tc := range []struct {
		name    string
		change  string // new content of f, "" for none
		wantErr bool
	}{
		{"warm", "", false},
		{"changed input", "changed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"f": "f"})
			target := mk()
			e.mustBuild(target)
			if tc.change != "" {
				e.write("f", tc.change)
			}
			_, ev, n, err := e.build(target, func(b *builder.Builder) { b.FailOnMiss = true })
			if n != 0 {
				t.Errorf("%d runs, want 0", n)
			}
			if s := ev.started(); len(s) != 0 {
				t.Errorf("started steps %v, want none", s)
			}
			if got := errors.Is(err, builder.ErrCacheMiss); got != tc.wantErr || !tc.wantErr && err != nil {
				t.Errorf("Build error %v, want cache miss: %v", err, tc.wantErr)
			}
		})
	}
}

// TestNoLayer: a WORKDIR that changes nothing has no layer; a RUN that
// changes nothing has the empty tar as its layer, as under BuildKit, byte
// for byte (sha256:4f4fb700...). Either way the next step sees its
// parent's files. (A RUN writing only to a mount whose target it created:
// testdata/script/run_empty_layer.txtar, with the real sandbox.)
func TestNoLayer(t *testing.T) {
	emptyGzip := v1.Hash{Algorithm: "sha256", Hex: "4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"}
	for _, tc := range []struct {
		name      string
		step      func(g *graph, parent *dag.Vertex) *dag.Vertex
		wantLayer bool
	}{
		{"empty RUN", func(g *graph, p *dag.Vertex) *dag.Vertex { return g.run(p, "true") }, true},
		{"WORKDIR existing", func(g *graph, p *dag.Vertex) *dag.Vertex { return g.workdir(p, "/w") }, false},
		{"WORKDIR /", func(g *graph, p *dag.Vertex) *dag.Vertex { return g.workdir(p, "/") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			g := &graph{}
			base := g.run(g.from("main"), "mkdir /w && write /base b")
			empty := tc.step(g, base)
			target := g.run(empty, "exists /base && write /after a")
			r, _, _ := e.mustBuild(target)
			s := r.Steps[empty]
			switch {
			case tc.wantLayer && (s.Layer == nil || s.Layer.Digest != emptyGzip || s.DiffID != builder.EmptyTarDiffID):
				t.Errorf("%s: layer %+v diffID %v, want the empty tar", empty.Name, s.Layer, s.DiffID)
			case !tc.wantLayer && (s.Layer != nil || s.DiffID != (v1.Hash{})):
				t.Errorf("%s: layer %+v, want none", empty.Name, s.Layer)
			}
			for _, v := range []*dag.Vertex{base, target} {
				if r.Steps[v].Layer == nil {
					t.Errorf("%s: no layer", v.Name)
				}
			}
			// Rebuilt from the empty step's record, the next step still
			// builds on the parent's files.
			target2 := g.run(empty, "exists /base && write /after2 a")
			if _, _, n := e.mustBuild(target2); n != 1 {
				t.Errorf("rebuild: %d runs, want 1", n)
			}
		})
	}
}

// TestNoCacheStage: NoCache for one stage re-runs that stage only.
func TestNoCacheStage(t *testing.T) {
	e := newEnv(t, nil)
	g := &graph{}
	a := g.run(g.from("a"), "write /a a")           // line 2
	b := g.run(g.from("b"), "write /b b")           // line 4
	v := g.copyFrom(g.from("final"), a, "/a", "/a") // line 6
	v = g.copyFrom(v, b, "/b", "/b")
	target := g.run(v, "write /f f")
	e.mustBuild(target)
	_, ev, _ := e.mustBuild(target, func(b *builder.Builder) {
		b.NoCache = func(v *dag.Vertex) bool { return v.Stage == "a" }
	})
	if got := ev.startedLines(); !slices.Equal(got, []int{2}) {
		t.Errorf("re-ran lines %v, want [2]", got)
	}
	for cmd, want := range map[string]int{"write /a a": 2, "write /b b": 1, "write /f f": 1} {
		if got := e.runner.runs(cmd); got != want {
			t.Errorf("%q ran %d times in two builds, want %d", cmd, got, want)
		}
	}
}

// TestMissReasons: a re-run step says why it missed.
func TestMissReasons(t *testing.T) {
	// Lines: 1 FROM, 2 COPY f, 3 RUN with FOO, 4 RUN.
	mk := func(foo string) *dag.Vertex {
		g := &graph{}
		v := g.copyCtx(g.from("main"), "f", "/f")
		v = g.run(v, "write /r r", "FOO="+foo, "BAR=1")
		return g.run(v, "write /s s")
	}
	for _, tc := range []struct {
		name string
		foo  string
		file string
		want map[int]string
	}{
		{"env", "2", "f", map[int]string{3: "build arg or env FOO changed", 4: "parent step re-ran"}},
		{"context", "1", "f changed", map[int]string{2: "context files changed", 3: "parent step re-ran", 4: "parent step re-ran"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"f": "f"})
			e.mustBuild(mk("1"))
			e.write("f", tc.file)
			res, ev, _ := e.mustBuild(mk(tc.foo))
			got := ev.started()
			if len(got) != len(tc.want) {
				t.Errorf("started %v, want %v", got, tc.want)
			}
			for line, want := range tc.want {
				if r, ok := got[line]; !ok || !strings.Contains(r, want) {
					t.Errorf("line %d: reason %q (started %v), want %q", line, r, ok, want)
				}
			}
			for v, s := range res.Steps {
				if want, ok := tc.want[v.Pos.Line]; ok && !strings.Contains(s.Reason, want) {
					t.Errorf("%s: Step.Reason %q, want %q", v.Name, s.Reason, want)
				}
			}
		})
	}
}

// TestProxyEnvNotInKey: proxy variables reach the step but not its key.
func TestProxyEnvNotInKey(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after []string
		hit           bool
	}{
		{"proxy changed", []string{"HTTP_PROXY=http://a:3128"}, []string{"HTTP_PROXY=http://b:3128"}, true},
		{"proxies added", nil, []string{"https_proxy=http://p", "NO_PROXY=localhost", "ALL_PROXY=socks5://p"}, true},
		{"proxy removed", []string{"FTP_PROXY=ftp://p", "X=1"}, []string{"X=1"}, true},
		{"env changed", []string{"FOO=1"}, []string{"FOO=2"}, false},
		{"env added", nil, []string{"FOO=1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			mk := func(env []string) *dag.Vertex {
				g := &graph{}
				return g.run(g.from("main"), "write /r r", env...)
			}
			e.mustBuild(mk(tc.before))
			after := mk(tc.after)
			r, _, n := e.mustBuild(after)
			if hit := n == 0; hit != tc.hit || r.Steps[after].Cached != tc.hit {
				t.Errorf("runs %d, cached %v; want hit %v", n, r.Steps[after].Cached, tc.hit)
			}
			if !tc.hit && !slices.Equal(e.runner.env["write /r r"], tc.after) {
				t.Errorf("step ran with env %q, want %q", e.runner.env["write /r r"], tc.after)
			}
		})
	}
	// Proxies still reach the step.
	e := newEnv(t, nil)
	g := &graph{}
	e.mustBuild(g.run(g.from("main"), "write /r r", "HTTP_PROXY=http://a:3128"))
	if got := e.runner.env["write /r r"]; !slices.Contains(got, "HTTP_PROXY=http://a:3128") {
		t.Errorf("step env %q, want HTTP_PROXY", got)
	}
}

// TestNoCacheParallelNoop: with NoCache, identical no-op RUN steps in
// parallel stages all run and all succeed. Before the fix, the first to
// commit removed the shared step snapshot (its diff was empty) while
// another still read it: `diff snapshot "step-…": snapshot not found`.
func TestNoCacheParallelNoop(t *testing.T) {
	for i := range 20 {
		e := newEnv(t, nil)
		g := &graph{}
		common := g.run(g.from("base"), "write /c c")
		target := g.from("final")
		for s := range 4 {
			v := g.run(common, "true")
			v.Stage = fmt.Sprintf("s%d", s)
			target = g.copyFrom(target, v, "/c", fmt.Sprintf("/c%d", s))
		}
		_, _, n, err := e.build(target, jobs(8), func(b *builder.Builder) {
			b.NoCache = func(*dag.Vertex) bool { return true }
		})
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if n != 5 {
			t.Errorf("build %d: %d runs, want 5", i, n)
		}
	}
}
