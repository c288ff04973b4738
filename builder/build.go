package builder

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/sandbox"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// Builder solves build graphs. Its fields are set by the caller (package
// build wires one per build); a Builder is safe for one Build at a time.
type Builder struct {
	Snapshots snapshot.Snapshotter
	Cache     *cache.Cache
	Store     *store.Store

	Context   string                // build context directory
	Ignore    func(rel string) bool // .dockerignore of the context; nil excludes nothing
	StatCache fscopy.StatCache      // speeds up context hashing; may be nil

	// Image returns the base image a Source vertex resolved to.
	Image func(ctx context.Context, src *dag.Source) (v1.Image, error)
	// Run runs a RUN step: sandbox.Run, or a fake in tests.
	Run func(ctx context.Context, spec sandbox.Spec) error
	// WarmNetworks, if set, starts n default-mode networks for the RUN
	// steps to come (sandbox.Networks.Warm, which Run draws from). Build
	// calls it once the plan is known, with the number of RUN steps in
	// the default network that will run and can start at once, so their
	// networks start while the steps before them run.
	WarmNetworks func(n int)
	// WarmSandbox, if set, makes in the background what the first RUN
	// step would otherwise make on its way (sandbox.Warm). Build calls it
	// once the plan is known, if a RUN step will run.
	WarmSandbox func()

	Jobs        int                    // concurrent executing steps; 0 means 1
	NoCache     func(*dag.Vertex) bool // --no-cache, --no-cache-filter: ignore records for these
	FailOnMiss  bool                   // --fail-on-cache-miss
	Scope       string                 // names this build for miss explanations (context + Dockerfile)
	Progress    func(Event)            // optional; called from several goroutines, serialised
	Secrets     map[string][]byte      // --secret id -> content
	Epoch       *time.Time             // SOURCE_DATE_EPOCH
	Compression string                 // layer blobs: "gzip" (default) or "zstd"
	Limits      sandbox.Limits         // --memory, --cpus, --pids-limit for RUN
	DiskLimit   int64                  // --disk-limit: bytes a RUN step may write (0: no limit)
	Network     string                 // default network for RUN: "" or "default" (isolated), "host" (needs Allow), "none"
	Allow       []string               // entitlements granted (--allow): "network.host"
	WorkDir     string                 // scratch space (mount points, secrets), under the root
	CacheMounts string                 // directory of RUN --mount=type=cache contents
	HTTPClient  *http.Client           // ADD of URLs
	Hosts       []byte                 // /etc/hosts for RUN (nil: sandbox default)
	ExtraHosts  []sandbox.Host         // --add-host: added to every RUN's /etc/hosts; in RUN keys
	ShmSize     int64                  // --shm-size: bytes of every RUN's /dev/shm (0: 64MiB); in RUN keys
	Ulimits     []sandbox.Ulimit       // --ulimit: every RUN's rlimits; in RUN keys
	// LogLimit is the output a RUN step shows before it is clipped with a
	// marker (0: DefaultLogLimit; negative: no limit). Beyond it the
	// output is read and dropped, so memory stays bounded.
	LogLimit int64
	// Remote are imported caches (--cache-from), asked after the local
	// cache misses. Their layers are fetched only when a step that must
	// run builds on them, or when the output needs their bytes.
	Remote []RemoteCache

	progressMu sync.Mutex // protects calls to Progress
}

// RemoteCache is a cache another machine exported (package remotecache
// imports them).
type RemoteCache = cache.Source

// Step is the result of one vertex.
type Step struct {
	Key    cache.Key
	Layer  *v1.Descriptor // nil when the step changed nothing
	DiffID v1.Hash
	Cached bool
	Reason string // why it missed, when it ran
	// Created is when the step's result was first made (its record's
	// time), so a fully cached rebuild can reproduce the same image.
	Created time.Time
	// Record is the step's cache record (for exporting the cache).
	Record cache.Record
	// Remote is the imported cache the step's layer came from, when its
	// blob is not in the local store; nil otherwise.
	Remote RemoteCache
}

// Result maps every solved vertex to its step result.
type Result struct {
	Steps map[*dag.Vertex]*Step
}

// ErrCacheMiss is returned (wrapped) by Build with FailOnMiss when a step would run.
var ErrCacheMiss = errors.New("cache miss")

// Build solves target and everything it needs. The first failing step
// cancels the rest; its error is returned (a *StepError for a step).
func (b *Builder) Build(ctx context.Context, target *dag.Vertex) (*Result, error) {
	return b.BuildAll(ctx, []*dag.Vertex{target})
}

// BuildAll solves several targets in one graph under one job limit: the
// images of a multi-platform build, one target per platform. Vertices of
// different targets with the same cache key (a FROM --platform=$BUILDPLATFORM
// stage that uses no TARGET* arg) are one step: it runs once, as BuildKit
// merges identical vertices, and both vertices get its result.
func (b *Builder) BuildAll(ctx context.Context, targets []*dag.Vertex) (*Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := b.Jobs
	if jobs < 1 {
		jobs = 1
	}
	s := &solve{b: b, sem: semaphore.NewWeighted(int64(jobs)), rootCtx: ctx, layerSlots: semaphore.NewWeighted(layerSlots)}
	defer s.removing.Wait()
	for _, target := range targets {
		if err := b.checkEntitlements(target); err != nil {
			return nil, err
		}
	}

	// A base image pulled for this build is unpacked while the plan
	// hashes the context; the early unpacks stop (cancelled) if the
	// build ends without needing them.
	var early sync.WaitGroup
	defer early.Wait()
	defer cancel(nil)
	s.unpackEarly(targets, &early)
	plan, err := dag.Walk(ctx, targets, s.plan)
	if err != nil {
		return nil, err
	}
	if b.FailOnMiss {
		var first *dag.Vertex
		for v, n := range plan {
			if !n.hit && (first == nil || v.Pos.Line < first.Pos.Line) {
				first = v
			}
		}
		if first != nil {
			return nil, &StepError{Pos: first.Pos, Instruction: instruction(first), Err: fmt.Errorf("%w: %s", ErrCacheMiss, orUnknown(plan[first].reason))}
		}
	}
	s.nodes = plan
	s.consumed = map[*dag.Vertex]bool{}
	for v := range plan {
		for _, in := range v.Inputs {
			s.consumed[in] = true
		}
	}
	s.memo = map[*dag.Vertex]func() (*node, error){}
	if len(targets) > 1 {
		// Only across platforms: a single-platform build runs every
		// vertex it has, as it always did (--no-cache runs twin steps).
		s.byKey = map[cache.Key]func() (*node, error){}
	}
	s.announce(plan)
	s.cancel = cancel
	if b.WarmSandbox != nil && runsAny(plan) {
		b.WarmSandbox()
	}
	if b.WarmNetworks != nil {
		if n := min(firstRuns(plan, b.Network), jobs); n > 0 {
			b.WarmNetworks(n)
		}
	}
	// The target, then every step of its chain: the image needs each
	// one's layer, even where a cached later step means it need not run.
	// Steps the user asked to re-run (--no-cache-filter) run even where a
	// cached step after them would not need them.
	var want []*dag.Vertex
	for _, target := range targets {
		want = append(want, target)
		want = append(want, target.Chain()...)
	}
	if b.NoCache != nil {
		for v := range plan {
			if _, src := v.Op.(*dag.Source); !src && b.NoCache(v) {
				want = append(want, v)
			}
		}
	}
	// Every target at once: the platforms of a build run in parallel,
	// their steps under the one job limit.
	g, gctx := errgroup.WithContext(ctx)
	for _, v := range want {
		g.Go(func() error {
			_, err := s.need(gctx, v)
			return err
		})
	}
	err = g.Wait()
	// The layers written beside the steps: a failed one fails the build.
	s.layers.Wait()
	if err == nil && len(s.layerErrs) > 0 {
		err = s.layerErrs[0]
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return nil, cause
		}
		return nil, err
	}
	res := &Result{Steps: map[*dag.Vertex]*Step{}}
	// The result holds every step solved, and every step the cache
	// answered even if nothing needed it restored (a cached build stage
	// under a cached COPY --from): a mode=max cache export must carry
	// those records too, or each fully cached build would write a smaller
	// cache than the one it read.
	s.mu.Lock()
	visited := make([]*dag.Vertex, 0, len(plan))
	for v, n := range plan {
		_, solved := s.memo[v]
		if _, src := v.Op.(*dag.Source); solved || n.hit && !src {
			visited = append(visited, v)
		}
	}
	s.mu.Unlock()
	for _, v := range visited {
		n := plan[v]
		step := &Step{Key: n.key, Layer: n.rec.Layer, DiffID: n.rec.DiffID, Cached: n.hit, Reason: n.reason, Created: n.rec.Created, Record: n.rec}
		if n.remote != nil && n.rec.Layer != nil {
			if _, err := b.Store.Stat(n.rec.Layer.Digest); err != nil {
				step.Remote = n.remote
			}
		}
		res.Steps[v] = step
	}
	return res, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "no earlier build of this step"
	}
	return s
}

// solve is the state of one Build.
type solve struct {
	b       *Builder
	sem     *semaphore.Weighted
	rootCtx context.Context
	cancel  context.CancelCauseFunc
	nodes   map[*dag.Vertex]*node // the plan: every vertex's key and record
	// consumed are the vertices of the plan another one builds on (an
	// input): the others' snapshots no step of this build reads (toLayer).
	consumed map[*dag.Vertex]bool
	mu       sync.Mutex // protects memo, byKey and the nodes of merged vertices
	memo     map[*dag.Vertex]func() (*node, error)
	// byKey merges vertices with the same result key (the same step of
	// several platforms' graphs): the first one's solve is everyone's.
	byKey map[cache.Key]func() (*node, error)
	// unpacking shares the unpacking of a base image layer, by snapshot
	// name, among the Source vertices that reach it at once.
	unpacking singleflight.Group
	// removing counts the snapshots of unchanged steps being removed
	// beside the build (commit); Build returns once they are gone.
	removing sync.WaitGroup
	// layers counts the layer writes of steps later steps already build
	// on (recordLater); Build returns once they are done. layerErrs are
	// their failures (protected by mu).
	layers     sync.WaitGroup
	layerErrs  []error
	layerSlots *semaphore.Weighted // bounds layers (layerLater)
}

// node is a vertex's key, its record, and its snapshot, made on demand.
type node struct {
	key    cache.Key // the record's key
	chain  cache.Key // what later steps key on: key, or key and parent for a linked step
	linked bool      // COPY --link: made on an empty base, rebased onto the parent
	comps  []cache.Component
	rec    cache.Record
	hit    bool
	reason string
	depth  int // place in its chain: 0 for a Source, its parent's + 1
	// announced: the vertex's Done (a Source) or Cached event went out
	// before the solve began (solve.announce).
	announced bool
	remote    RemoteCache            // where rec came from, if not the local cache
	snap      func() (string, error) // committed snapshot name of the result; "" is an empty root
	// layer, set by commit, writes the layer of a step whose snapshot
	// is committed; exec runs it beside the next steps (recordLater).
	layer func() (*v1.Descriptor, v1.Hash, error)
}

// announce reports, before anything runs and in Dockerfile order, the
// base images and every step the cache answers, as BuildKit lists a cached
// build's steps: all of them, in order, each CACHED, although a step that
// only a cached later step needs is never restored.
func (s *solve) announce(plan map[*dag.Vertex]*node) {
	var vs []*dag.Vertex
	for v, n := range plan {
		if _, src := v.Op.(*dag.Source); src || n.hit {
			vs = append(vs, v)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return vertexBefore(vs[i], vs[j]) })
	// The same step in several platforms' graphs is one line.
	type seenKey struct {
		key  cache.Key
		name string
	}
	seen := map[seenKey]bool{}
	for _, v := range vs {
		if k := (seenKey{plan[v].chain, v.Name}); seen[k] {
			plan[v].announced = true
			continue
		} else {
			seen[k] = true
		}
		state := Cached
		if _, src := v.Op.(*dag.Source); src {
			state = Done
		}
		plan[v].announced = true
		s.b.emit(Event{Vertex: v, State: state})
	}
}

// vertexBefore orders vertices as their Dockerfile lines do, then by
// progress name: "[build 1/4] FROM" before "[stage-1 1/4] FROM" when two
// stages start with one base on the same line of a generated file.
func vertexBefore(a, b *dag.Vertex) bool {
	if a.Pos.Line != b.Pos.Line {
		return a.Pos.Line < b.Pos.Line
	}
	return a.Name < b.Name
}

func (b *Builder) emit(e Event) {
	if b.Progress == nil {
		return
	}
	e.Time = time.Now()
	b.progressMu.Lock()
	defer b.progressMu.Unlock()
	b.Progress(e)
}

// instruction is the Dockerfile text of a vertex for messages: its
// progress name without the "[stage n/m] " prefix.
func instruction(v *dag.Vertex) string {
	name := v.Name
	if i := strings.Index(name, "] "); strings.HasPrefix(name, "[") && i > 0 {
		name = name[i+2:]
	}
	if name == "" {
		name = strings.ToUpper(v.Op.Kind())
	}
	return name
}

// scope names the place of v in this build: its stage and its depth in
// its chain (from the plan, not v.Chain(), which is linear in the depth:
// quadratic over a long stage).
func (s *solve) scope(v *dag.Vertex, n *node) string {
	return fmt.Sprintf("%s#%s/%d", s.b.Scope, v.Stage, n.depth)
}

func shortDigest(b []byte) string {
	return fmt.Sprintf("%x", sha256.Sum256(b))[:16]
}

// runsAny reports whether a RUN step of plan will run (a miss).
func runsAny(plan map[*dag.Vertex]*node) bool {
	for v, n := range plan {
		if _, ok := v.Op.(*dag.Run); ok && n != nil && !n.hit {
			return true
		}
	}
	return false
}

// firstRuns counts the RUN steps of plan that will run (misses) in the
// default network and have no such step among their ancestors: the most
// that may want a network at once before any gives one back.
func firstRuns(plan map[*dag.Vertex]*node, network string) int {
	userNet := func(v *dag.Vertex) bool {
		run, ok := v.Op.(*dag.Run)
		if !ok {
			return false
		}
		if n := plan[v]; n == nil || n.hit {
			return false
		}
		net := run.Network
		if net == "" {
			net = network
		}
		return net == "" || net == sandbox.NetworkDefault
	}
	// below[v]: v or one of its ancestors is such a step.
	below := map[*dag.Vertex]bool{}
	var walk func(v *dag.Vertex) bool
	walk = func(v *dag.Vertex) bool {
		if b, ok := below[v]; ok {
			return b
		}
		below[v] = false // a DAG: no cycle comes back here
		b := userNet(v)
		for _, in := range v.Inputs {
			if walk(in) {
				b = true
			}
		}
		below[v] = b
		return b
	}
	n := 0
	for v := range plan {
		if !userNet(v) {
			continue
		}
		first := true
		for _, in := range v.Inputs {
			if walk(in) {
				first = false
			}
		}
		if first {
			n++
		}
	}
	return n
}
