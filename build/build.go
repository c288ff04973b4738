package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bldbuild/bld/registry"
	"github.com/bldbuild/bld/state"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/frontend/vars"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/remotecache"
	"github.com/bldbuild/bld/sandbox"
)

// Options describe one build. The zero value of every field but Root and
// ContextDir is a sensible default: the Dockerfile in the context, the
// host platform, the local store as the only output.
type Options struct {
	// Root is the opened state root: store, cache, snapshots.
	Root *state.Root
	// ContextDir is the build context directory.
	ContextDir string
	// Dockerfile is the Dockerfile's content; nil reads DockerfilePath.
	Dockerfile []byte
	// DockerfilePath is where the Dockerfile is ("" is ContextDir/Dockerfile);
	// it also finds NAME.dockerignore. With Dockerfile set it may be empty.
	DockerfilePath string
	// DockerfileName names the Dockerfile in errors ("" is the base name
	// of DockerfilePath, or "Dockerfile").
	DockerfileName string

	BuildArgs map[string]string // --build-arg
	Labels    map[string]string // --label
	Target    string            // --target: the stage to build ("" the last)
	// Platforms are the target platforms (--platform): one image each,
	// under one OCI index when there are several. Empty is Platform.
	Platforms []v1.Platform
	// Platform is the target platform when Platforms is empty; nil is
	// the host's. Prepare sets it to Platforms[0].
	Platform *v1.Platform

	// Tags name the image (-t).
	Tags []string
	// Annotations are added to the image manifests, as buildx's
	// --annotation: "KEY=VALUE" or "manifest:KEY=VALUE"; with several
	// platforms also "index:KEY=VALUE" (the index) and
	// "manifest-descriptor:KEY=VALUE" (its descriptors of the manifests).
	Annotations []string
	// Outputs are where the image goes, as buildx's --output specs
	// ("type=oci,dest=out.tar"; exporter.ParseOutput); none (and no Push)
	// is the local store, as docker build.
	Outputs []string
	// Push pushes the image to every tag's registry (--push, which is
	// --output type=registry as in buildx: no local copy).
	Push bool
	// Stdout receives outputs whose Dest is "-".
	Stdout io.Writer

	Pull          bool     // look base images up in their registry even when stored
	NoCache       bool     // run every step
	NoCacheFilter []string // stages to run even when cached
	FailOnMiss    bool     // fail before running any step the cache lacks

	Secrets   map[string][]byte // RUN --mount=type=secret contents by id
	Network   string            // default network for RUN: "" or "default" (own namespace), "host" (needs Allow), "none"
	Allow     []string          // entitlements granted (--allow): "network.host"
	Resources sandbox.Limits    // cgroup limits of every RUN step (memory, CPUs, processes)
	// Isolation is how RUN steps run: "default" (sandbox.Run), "chroot"
	// (sandbox.RunChroot: weaker, for containers that allow no namespace
	// and no mount), or "": default, and chroot with a warning when the
	// environment allows no new namespaces (autoIsolation).
	Isolation string
	Jobs      int // steps executed at once (0: max(4, 2×CPUs))
	// DiskLimit is the bytes each RUN step may write (0: no limit); a step
	// that writes more fails with a *builder.DiskLimitError and leaves
	// nothing behind.
	DiskLimit int64

	// ExtraHosts (--add-host), ShmSize (--shm-size, bytes; 0 is 64MiB)
	// and Ulimits (--ulimit) apply to every RUN step and are in its cache
	// key; ParseAddHost, ParseShmSize and ParseUlimit read docker's syntax.
	ExtraHosts []sandbox.Host
	ShmSize    int64
	Ulimits    []sandbox.Ulimit

	CacheFrom []string // --cache-from specs
	CacheTo   []string // --cache-to specs

	// Insecure are registry hosts reached over plain HTTP (loopback
	// registries always are).
	Insecure []string
	// Epoch is SOURCE_DATE_EPOCH: every new timestamp is clamped to it.
	// Nil takes the SOURCE_DATE_EPOCH build arg, if any.
	Epoch *time.Time

	// Limits bound what the build accepts from its inputs.
	Limits Limits

	// Progress receives the build's progress; nil discards it.
	Progress Progress
}

// Result is what a successful build made.
type Result struct {
	Image        v1.Image // the first platform's image
	Digest       v1.Hash  // the image manifest's digest, or the index's
	ConfigDigest v1.Hash  // the first platform's config
	// Index is the OCI index of a multi-platform build (nil otherwise),
	// one manifest per platform, in --platform order.
	Index v1.ImageIndex
	Names []string // the names the image was given
	// Steps are the target stage's steps in Dockerfile order (FROM left out).
	Steps       []Step
	CacheHits   int // steps of the whole graph reused from a cache
	CacheMisses int // steps of the whole graph executed
}

// Step is one step of the target stage.
type Step struct {
	Name   string // the instruction, as progress shows it
	Cached bool
	Reason string // why the cache missed, when it did
}

// HostPlatform is the platform images are built for by default.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// Run runs a build and writes its outputs. A failing Dockerfile step is a
// *builder.StepError; a cancelled ctx stops every step and returns ctx's
// error. Nothing is named or exported when the build fails.
func Run(ctx context.Context, o Options) (_ *Result, err error) {
	if o.Root == nil {
		return nil, errors.New("build: no state root")
	}
	if o.Root.Snapshots == nil {
		return nil, errors.New("build: the state root was opened without snapshots (state.Options{Snapshots: true})")
	}
	prog := o.Progress
	if prog == nil {
		prog = discard{}
	}
	o, err = Prepare(o)
	if err != nil {
		return nil, err
	}
	client := registry.New(registry.Options{Insecure: o.Insecure, Limits: o.Limits.Pull})
	annotations, err := parseAnnotations(o.Annotations, len(o.Platforms) > 1)
	if err != nil {
		return nil, err
	}
	unlock, err := o.Root.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Steps of builds that died (kill -9) may have left cgroups and
	// network namespaces: best effort, the next build or prune retries.
	// It walks every cgroup hierarchy, so it runs beside the build (as it
	// runs beside other builds on this root: it touches only dead pids'
	// cgroups and namespaces no process is in) and Run returns after it.
	if os.Geteuid() == 0 {
		recovered := make(chan struct{})
		go func() {
			defer close(recovered)
			_ = sandbox.Recover(ctx)
		}()
		defer func() { <-recovered }()
	}
	// Every scratch path of this build lives in its own directory under
	// the root's tmp/, locked while it runs: after a kill -9 the next
	// state.Open or prune undoes it (secrets, mounts, dirs).
	scratch, err := o.Root.NewScratch(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		err = errors.Join(err, scratch.Close())
	}()
	exps, names, err := outputs(ctx, o, scratch.Dir, client, prog)
	if err != nil {
		return nil, err
	}
	cacheTo, err := remotecache.ParseExportSpecs(o.CacheTo)
	if err != nil {
		return nil, err
	}

	// The --cache-from manifests are fetched while the Dockerfile is
	// parsed and its base images resolved: both wait on registries, one
	// after the other they took 19 and 23 ms of a 117 ms CI build with
	// --cache-from (bench: cache-from row).
	remote := importCache(ctx, o, client, prog)
	defer remote.stop()
	res := &resolver{root: o.Root, client: client, pull: o.Pull, warn: prog.Message}
	multi := len(o.Platforms) > 1
	// One graph per target platform, solved together: steps that do not
	// depend on the platform have the same keys and run once.
	plans := make([]*frontend.Result, len(o.Platforms))
	targets := make([]*dag.Vertex, len(o.Platforms))
	// The platforms' base images are looked up at once; the first
	// platform (in --platform order) that fails names the error.
	errs := make([]error, len(o.Platforms))
	var wg sync.WaitGroup
	for i, p := range o.Platforms {
		wg.Go(func() {
			plans[i], errs[i] = frontend.Parse(ctx, o.Dockerfile, frontend.Options{
				Filename:      o.DockerfileName,
				BuildArgs:     o.BuildArgs,
				Target:        o.Target,
				Platform:      p,
				BuildPlatform: HostPlatform(),
				MultiPlatform: multi,
				Labels:        o.Labels,
				Resolve:       res.Resolve,
				Limits:        o.Limits.Frontend,
			})
		})
	}
	wg.Wait()
	for i, p := range o.Platforms {
		plan, err := plans[i], errs[i]
		if err != nil {
			if multi {
				return nil, fmt.Errorf("%s: %w", FormatPlatform(p), err)
			}
			return nil, err
		}
		// A RUN for another CPU runs under an emulator: say before
		// anything runs when none is registered.
		if err := checkEmulation(plan.Target, p); err != nil {
			return nil, err
		}
		plans[i], targets[i] = plan, plan.Target
	}
	if multi {
		if err := multiPlatformOutputs(exps); err != nil {
			return nil, err
		}
	}
	// Limits that cannot be set (bld without root and no delegated
	// cgroup) fail the build before any step runs, never silently.
	if err := sandbox.CheckLimits(o.Resources); err != nil {
		return nil, err
	}
	b, err := newBuilder(ctx, o, scratch.Dir, res, remote.wait(), prog)
	if err != nil {
		return nil, err
	}
	// The RUN steps of this build reuse default-mode networks, one step
	// at a time each (sandbox.Networks).
	nets := &sandbox.Networks{}
	defer nets.Close()
	b.Run = nets.Run
	b.WarmNetworks = nets.Warm
	b.WarmSandbox = sandbox.Warm
	switch o.Isolation {
	case "":
		if o.Resources == (sandbox.Limits{}) {
			b.Run = (&autoIsolation{run: nets.Run, prog: prog}).Run
		}
	case sandbox.IsolationDefault:
	case sandbox.IsolationChroot:
		if o.Resources != (sandbox.Limits{}) {
			return nil, fmt.Errorf("--isolation chroot: --memory, --cpus and --pids-limit need a cgroup, which chroot isolation does not make")
		}
		b.Run = sandbox.RunChroot
		b.WarmNetworks, b.WarmSandbox = nil, nil
	default:
		return nil, fmt.Errorf("--isolation %s: unknown (default or chroot)", o.Isolation)
	}
	result, err := b.BuildAll(ctx, targets)
	if sc, ok := b.StatCache.(*fscopy.FileStatCache); ok {
		// The stat cache only saves re-reading context files next time:
		// failing to save it costs speed, not correctness. Its synced
		// write goes on beside the export; Run returns after it.
		saved := make(chan struct{})
		go func() {
			defer close(saved)
			_ = sc.Save()
		}()
		defer func() { <-saved }()
	}
	if err != nil {
		return nil, err
	}

	imgs := make([]v1.Image, len(plans))
	for i, plan := range plans {
		img, err := assemble(ctx, res, o.Root, plan, result, o.Platforms[i], o.Epoch)
		if err != nil {
			return nil, err
		}
		if len(annotations.manifest) > 0 {
			img = mutate.Annotations(img, annotations.manifest).(v1.Image)
		}
		imgs[i] = img
	}
	src := snapshotSource(o.Root, result, o.Epoch)
	for _, e := range exps {
		if r, ok := e.(*recompressed); ok {
			r.opts.Source = src
		}
		if s, ok := e.(*storeExporter); ok {
			s.res = res
			s.recompress.Source = src
		}
	}
	steps := cacheSteps(plans, result)
	for i := range imgs {
		if imgs[i], err = remotecache.Inline(imgs[i], cacheTo, steps); err != nil {
			return nil, err
		}
	}
	prog.Exporting()
	var r *Result
	if multi {
		idx, err := platformIndex(imgs, o.Platforms, annotations)
		if err != nil {
			return nil, err
		}
		if err := exportIndex(ctx, exps, idx); err != nil {
			return nil, err
		}
		if r, err = newIndexResult(idx, imgs, names, plans, result, prog); err != nil {
			return nil, err
		}
	} else {
		if err := exporter.Tee(exps...).Export(ctx, imgs[0]); err != nil {
			return nil, err
		}
		if r, err = newResult(imgs[0], names, plans[0], result, prog); err != nil {
			return nil, err
		}
	}
	var pushed []string
	if o.Push {
		pushed = names
	}
	// One progress entry per cache export, as buildx shows them.
	for _, spec := range cacheTo {
		if spec.Inline {
			continue
		}
		dest := spec.Ref
		if spec.Type == "local" {
			dest = spec.Dest
		}
		prog.ExportingCache(dest)
		err = remotecache.ExportAll(ctx, []remotecache.ExportSpec{spec}, remotecache.ExportOptions{
			Transport:   cacheTransport(ctx, client),
			Steps:       steps,
			Store:       o.Root.Store,
			CacheMounts: func() (map[string]string, error) { return builder.CacheMountIDs(o.Root.CacheMountsDir()) },
			MountFrom:   pushedRepo(client, pushed),
			Log:         &messageWriter{prog: prog},
		})
		prog.ExportedCache(dest, err)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Prepare fills in o's defaults: the context directory made absolute and
// checked, the Dockerfile read and named, the platform, and the epoch from
// the SOURCE_DATE_EPOCH build arg. Run calls it; a caller that wants the
// Dockerfile first (to lint it) may call it before, once.
func Prepare(o Options) (Options, error) {
	dir, err := filepath.Abs(o.ContextDir)
	if err != nil {
		return o, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return o, fmt.Errorf("build context %s: not a directory", o.ContextDir)
	}
	o.ContextDir = dir
	if o.DockerfilePath == "" {
		o.DockerfilePath = filepath.Join(dir, "Dockerfile")
	}
	if o.DockerfileName == "" {
		o.DockerfileName = filepath.Base(o.DockerfilePath)
	}
	if o.Dockerfile == nil {
		if o.Dockerfile, err = os.ReadFile(o.DockerfilePath); err != nil {
			return o, fmt.Errorf("read Dockerfile: %w", err)
		}
	}
	if len(o.Platforms) == 0 {
		p := HostPlatform()
		if o.Platform != nil {
			p = *o.Platform
		}
		o.Platforms = []v1.Platform{p}
	}
	seen := map[string]bool{}
	var ps []v1.Platform
	for _, p := range o.Platforms {
		if p.OS != "linux" {
			return o, fmt.Errorf("--platform %s: only linux images can be built", vars.FormatPlatform(p))
		}
		if k := vars.FormatPlatform(p); !seen[k] {
			seen[k] = true
			ps = append(ps, p)
		}
	}
	o.Platforms = ps
	o.Platform = &o.Platforms[0]
	if o.Epoch == nil {
		if o.Epoch, err = SourceDateEpoch(o.BuildArgs["SOURCE_DATE_EPOCH"]); err != nil {
			return o, err
		}
	}
	return o, nil
}

// noCacheFunc is builder.Builder.NoCache for --no-cache and
// --no-cache-filter. It is nil when neither asks anything to run again:
// only then does the builder write a step's layer beside the steps after
// it (where --no-cache's twin steps, sharing a snapshot, would collide).
func noCacheFunc(o Options) func(*dag.Vertex) bool {
	if !o.NoCache && len(o.NoCacheFilter) == 0 {
		return nil
	}
	stages := map[string]bool{}
	for _, s := range o.NoCacheFilter {
		stages[strings.ToLower(s)] = true
	}
	return func(v *dag.Vertex) bool {
		return o.NoCache || stages[strings.ToLower(v.Stage)]
	}
}

// newBuilder wires a builder for o: the root's snapshots, cache and store,
// the context with its .dockerignore, imported caches, the sandbox.
// importing is the --cache-from import importCache started.
type importing struct {
	cancel context.CancelFunc
	wait   func() []cache.Source // the sources, once imported
}

// stop ends the import, if it still runs, and waits for it.
func (i importing) stop() {
	i.cancel()
	i.wait()
}

// importCache starts importing o.CacheFrom (remotecache.ImportAll) in a
// goroutine.
func importCache(ctx context.Context, o Options, client *registry.Client, prog Progress) importing {
	ctx, cancel := context.WithCancel(ctx)
	if len(o.CacheFrom) == 0 {
		return importing{cancel: cancel, wait: func() []cache.Source { return nil }}
	}
	done := make(chan []cache.Source, 1)
	go func() {
		done <- remotecache.ImportAll(ctx, o.CacheFrom, remotecache.ImportOptions{
			Transport: cacheTransport(ctx, client),
			MountDir:  func(id string) string { return builder.CacheMountDir(o.Root.CacheMountsDir(), id) },
			Log:       &messageWriter{prog: prog},
		})
	}()
	return importing{cancel: cancel, wait: sync.OnceValue(func() []cache.Source { return <-done })}
}

// newBuilder makes the Builder of a build; remote is what --cache-from
// imported.
func newBuilder(ctx context.Context, o Options, scratch string, res *resolver, remote []cache.Source, prog Progress) (*builder.Builder, error) {
	ignore, err := frontend.LoadIgnoreWith(o.ContextDir, o.DockerfilePath, frontend.IgnoreOptions{MaxPatterns: o.Limits.IgnorePatterns})
	if err != nil {
		return nil, err
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = max(4, 2*runtime.NumCPU())
	}
	r := o.Root
	b := &builder.Builder{
		Snapshots:   r.Snapshots,
		Cache:       r.Cache,
		Store:       r.Store,
		Context:     o.ContextDir,
		Image:       res.Image,
		Run:         sandbox.Run,
		Jobs:        jobs,
		FailOnMiss:  o.FailOnMiss,
		Scope:       o.ContextDir + "|" + o.DockerfilePath + "|" + o.Target,
		Progress:    prog.Event,
		Secrets:     o.Secrets,
		Epoch:       o.Epoch,
		Limits:      o.Resources,
		DiskLimit:   o.DiskLimit,
		LogLimit:    o.Limits.Log,
		Network:     o.Network,
		Allow:       o.Allow,
		ExtraHosts:  o.ExtraHosts,
		ShmSize:     o.ShmSize,
		Ulimits:     o.Ulimits,
		WorkDir:     scratch,
		CacheMounts: r.CacheMountsDir(),
		Compression: commitFormat(o),
		Remote:      remote,
		NoCache:     noCacheFunc(o),
	}
	// Without the stat cache every context file is read again: slower, not wrong.
	if sc, err := fscopy.OpenStatCache(r.StatCachePath()); err == nil {
		b.StatCache = sc
	}
	if len(ignore.Patterns()) > 0 {
		b.Ignore = ignore.Excluded
	}
	return b, nil
}

// newResult sums up a finished build and reports the export.
func newResult(img v1.Image, names []string, plan *frontend.Result, result *builder.Result, prog Progress) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	r := &Result{Image: img, Digest: digest, ConfigDigest: cfg, Names: names}
	for _, v := range plan.Target.Chain() {
		s := result.Steps[v]
		if _, src := v.Op.(*dag.Source); src || s == nil {
			continue
		}
		r.Steps = append(r.Steps, Step{Name: v.Name, Cached: s.Cached, Reason: s.Reason})
	}
	r.CacheHits, r.CacheMisses = countSteps(result, false)
	prog.Exported(fmt.Sprintf("writing image %s", digest), names)
	return r, nil
}

// countSteps counts the result's steps (not its base images) that the cache
// answered and those that ran; byKey counts steps with one key once (the
// steps several platforms share).
func countSteps(result *builder.Result, byKey bool) (hits, misses int) {
	counted := map[string]bool{}
	for v, s := range result.Steps {
		if _, src := v.Op.(*dag.Source); src {
			continue
		}
		if byKey {
			if counted[s.Key.String()] {
				continue
			}
			counted[s.Key.String()] = true
		}
		if s.Cached {
			hits++
		} else {
			misses++
		}
	}
	return hits, misses
}
