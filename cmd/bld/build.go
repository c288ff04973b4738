package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/sandbox"
	"github.com/bldbuild/bld/snapshot"
)

type buildOptions struct {
	file          string
	tags          []string
	buildArgs     []string
	target        string
	labels        []string
	pull          bool
	noCache       bool
	noCacheFilter []string
	platform      string
	outputs       []string
	push          bool
	iidfile       string
	metadataFile  string
	progress      string
	secrets       []string
	network       string
	allow         []string
	memory        string
	cpus          float64
	pidsLimit     int64
	jobs          int
	failOnMiss    bool
	check         bool
	checkSkip     []string
	cacheFrom     []string
	cacheTo       []string
	context       string
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.context = args[0]
			return runBuild(cmd.Context(), g, o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - for stdin)")
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	f.StringVar(&o.target, "target", "", "build this stage")
	f.StringArrayVar(&o.labels, "label", nil, "set image metadata (KEY=VALUE)")
	f.BoolVar(&o.pull, "pull", false, "always look up base images in their registry")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the cache")
	f.StringArrayVar(&o.noCacheFilter, "no-cache-filter", nil, "do not use the cache for these stages")
	f.StringVar(&o.platform, "platform", "", "target platform (only the host's, e.g. linux/amd64)")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "output destination (type=oci|docker|registry|local|tar|image,dest=...)")
	f.BoolVar(&o.push, "push", false, "push every -t name to its registry")
	f.StringVar(&o.iidfile, "iidfile", "", "write the image digest to this file")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write build results as JSON to this file")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto (tty on a terminal, else plain), plain, tty, rawjson, quiet")
	f.StringArrayVar(&o.secrets, "secret", nil, "secret for RUN --mount=type=secret (id=ID,src=FILE or id=ID,env=VAR)")
	f.StringVar(&o.network, "network", "default", "default network for RUN: default (own namespace, outbound access), none, or host (needs --allow network.host)")
	f.StringSliceVar(&o.allow, "allow", nil, "grant an entitlement: network.host (RUN on the host's network)")
	f.StringVar(&o.memory, "memory", "", "memory limit for each RUN step (e.g. 512m)")
	f.Float64Var(&o.cpus, "cpus", 0, "CPU limit for each RUN step")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "process limit for each RUN step")
	f.IntVar(&o.jobs, "jobs", max(4, 2*runtime.NumCPU()), "steps executed at once (RUN steps often wait on I/O, so more than the CPU count)")
	f.BoolVar(&o.failOnMiss, "fail-on-cache-miss", false, "fail before running any step the cache does not have")
	f.BoolVar(&o.check, "check", false, "run the build checks only, do not build")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "import build cache (type=registry,ref=REF | type=local,src=DIR | REF)")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "export build cache (type=registry,ref=REF[,mode=min|max][,cache-mounts=true] | type=local,dest=DIR | type=inline)")
	f.StringSliceVar(&o.checkSkip, "check-skip", nil, "build checks to skip (all for every check)")
	return cmd
}

// buildMetadata is what --metadata-file writes, with buildx's key names.
type buildMetadata struct {
	Digest       string         `json:"containerimage.digest"`
	ConfigDigest string         `json:"containerimage.config.digest"`
	Names        string         `json:"image.name,omitempty"`
	Steps        []stepMetadata `json:"bld.steps"`
	CacheHits    int            `json:"bld.cache.hits"`
	CacheMisses  int            `json:"bld.cache.misses"`
}

type stepMetadata struct {
	Name   string `json:"name"`
	Cached bool   `json:"cached"`
	Reason string `json:"reason,omitempty"`
}

func runBuild(ctx context.Context, g *globalOptions, o buildOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	contextDir, err := filepath.Abs(o.context)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("build context %s: not a directory", o.context)
	}
	dfPath := o.file
	var dfName string
	var dockerfile []byte
	switch {
	case o.file == "-":
		dfName = "Dockerfile"
		dockerfile, err = io.ReadAll(stdin)
	default:
		if dfPath == "" {
			dfPath = filepath.Join(contextDir, "Dockerfile")
			dfName = "Dockerfile"
		} else {
			dfName = filepath.Base(dfPath)
		}
		dockerfile, err = os.ReadFile(dfPath)
	}
	if err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}

	platform := hostPlatform()
	if o.platform != "" {
		p, err := v1.ParsePlatform(o.platform)
		if err != nil {
			return fmt.Errorf("--platform %s: %w", o.platform, err)
		}
		if p.OS != platform.OS || p.Architecture != platform.Architecture {
			return fmt.Errorf("--platform %s: only the host platform %s can be built here", o.platform, platform)
		}
	}
	buildArgs, err := parseKV(o.buildArgs, true)
	if err != nil {
		return fmt.Errorf("--build-arg: %w", err)
	}
	labels, err := parseKV(o.labels, false)
	if err != nil {
		return fmt.Errorf("--label: %w", err)
	}
	epoch, err := sourceDateEpoch(buildArgs)
	if err != nil {
		return err
	}
	secrets, err := parseSecrets(o.secrets)
	if err != nil {
		return err
	}
	limits, err := parseLimits(o)
	if err != nil {
		return err
	}
	mode := progressMode(o.progress, stderr)
	checkOut := stderr
	if o.check {
		checkOut = stdout
	}
	if err := preBuildChecks(g, o, contextDir, dfPath, dfName, dockerfile, buildArgs, checkOut, mode); err != nil || o.check {
		return err
	}
	exps, names, err := outputs(ctx, g, o, stdout)
	if err != nil {
		return err
	}
	cacheTo, err := parseCacheTo(o.cacheTo)
	if err != nil {
		return err
	}

	st, err := openState(g, true)
	if err != nil {
		return err
	}
	unlock, err := lockRoot(st.root, false)
	if err != nil {
		return err
	}
	defer unlock()
	res := &resolver{g: g, st: st, pull: o.pull}
	prog := newProgress(o.progress, stderr)
	defer prog.close()
	for _, e := range exps {
		if r, ok := e.(*recompressed); ok {
			e = r.e
		}
		switch e := e.(type) {
		case *lazyStoreExporter:
			e.res = res
		case *pushExporter:
			e.prog = prog
			e.locs = openBlobLocations(st.root)
		}
	}

	plan, err := frontend.Parse(ctx, dockerfile, frontend.Options{
		Filename:      dfName,
		BuildArgs:     buildArgs,
		Target:        o.target,
		Platform:      platform,
		BuildPlatform: hostPlatform(),
		Labels:        labels,
		Resolve:       res.Resolve,
	})
	if err != nil {
		return err
	}
	ignore, err := frontend.LoadIgnore(contextDir, dfPath)
	if err != nil {
		return err
	}
	statCache, _ := openStatCache(st.root)

	noCacheStages := map[string]bool{}
	for _, s := range o.noCacheFilter {
		noCacheStages[strings.ToLower(s)] = true
	}
	b := &builder.Builder{
		Snapshots: st.snaps,
		Cache:     st.cache,
		Store:     st.store,
		Context:   contextDir,

		Image:       res.Image,
		Run:         sandbox.Run,
		Jobs:        o.jobs,
		FailOnMiss:  o.failOnMiss,
		Scope:       contextDir + "|" + dfPath + "|" + o.target,
		Progress:    prog.event,
		Secrets:     secrets,
		Epoch:       epoch,
		Limits:      limits,
		Network:     o.network,
		Allow:       o.allow,
		WorkDir:     filepath.Join(st.root, "tmp"),
		CacheMounts: st.mountsDir(),
		Remote:      importCaches(ctx, g, o.cacheFrom, st.mountsDir(), stderr),
		NoCache: func(v *dag.Vertex) bool {
			return o.noCache || noCacheStages[strings.ToLower(v.Stage)]
		},
	}
	if statCache != nil {
		b.StatCache = statCache
	}
	if len(ignore.Patterns()) > 0 {
		b.Ignore = ignore.Excluded
	}
	result, err := b.Build(ctx, plan.Target)
	if statCache != nil {
		_ = statCache.Save()
	}
	if err != nil {
		return err
	}

	img, err := assemble(ctx, res, st, plan, result, platform, epoch)
	if err != nil {
		return err
	}
	for _, e := range exps {
		if r, ok := e.(*recompressed); ok {
			r.src = snapshotSource(st, result, epoch)
		}
	}
	for _, c := range cacheTo {
		if c.Inline {
			if img, err = inlineCache(img, plan, result); err != nil {
				return err
			}
			break
		}
	}
	if err := exporter.Tee(exps...).Export(ctx, img); err != nil {
		return err
	}
	var pushed []string
	if o.push {
		pushed = names
	}
	if err := exportCaches(ctx, g, cacheTo, o.cacheTo, st, plan, result, pushed, stderr); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	cfgDigest, _ := img.ConfigName()
	prog.done(fmt.Sprintf("writing image %s", digest), names)
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(digest.String()), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if o.metadataFile != "" {
		md := buildMetadata{Digest: digest.String(), ConfigDigest: cfgDigest.String(), Names: strings.Join(names, ",")}
		for _, v := range plan.Target.Chain() {
			s := result.Steps[v]
			if s == nil {
				continue
			}
			if _, src := v.Op.(*dag.Source); src {
				continue
			}
			md.Steps = append(md.Steps, stepMetadata{Name: v.Name, Cached: s.Cached, Reason: s.Reason})
		}
		for v, s := range result.Steps {
			if _, src := v.Op.(*dag.Source); src {
				continue
			}
			if s.Cached {
				md.CacheHits++
			} else {
				md.CacheMisses++
			}
		}
		b, _ := json.MarshalIndent(md, "", "  ")
		if err := os.WriteFile(o.metadataFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--metadata-file: %w", err)
		}
	}
	if !toStdout(o) {
		fmt.Fprintln(stdout, digest)
	}
	return nil
}

// toStdout reports whether an output writes to standard output (-o -),
// which then carries nothing else.
func toStdout(o buildOptions) bool {
	for _, spec := range o.outputs {
		if out, err := exporter.ParseOutput(spec); err == nil && out.Dest == "-" {
			return true
		}
	}
	return false
}

// assemble turns the build result into an image: the base image, then one
// layer or empty history entry per instruction of the target's chain.
func assemble(ctx context.Context, res *resolver, st *state, plan *frontend.Result, result *builder.Result, platform v1.Platform, epoch *time.Time) (v1.Image, error) {
	var base v1.Image
	if plan.Base != nil {
		img, err := res.Image(ctx, &dag.Source{Ref: plan.Base.Ref, Digest: plan.Base.Digest})
		if err != nil {
			return nil, err
		}
		base = img
	}
	var entries []exporter.Layer
	for _, s := range plan.History {
		h := s.History
		if s.Vertex == nil {
			h.EmptyLayer = true
			entries = append(entries, exporter.Layer{History: h})
			continue
		}
		step := result.Steps[s.Vertex]
		if step == nil || step.Layer == nil {
			h.EmptyLayer = true
			entries = append(entries, exporter.Layer{History: h})
			continue
		}
		var l v1.Layer
		var err error
		if step.Remote != nil {
			// From an imported cache and not needed locally: a lazy remote
			// layer, mounted rather than re-uploaded on a push to its registry.
			l, err = step.Remote.Layer(*step.Layer, step.DiffID)
		} else {
			l, err = st.store.Layer(*step.Layer, step.DiffID)
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, exporter.Layer{Layer: l, History: h})
	}
	// The image is as old as its newest step, so a rebuild that reuses
	// every step reproduces the same digest (SOURCE_DATE_EPOCH pins it).
	var created time.Time
	for _, s := range plan.History {
		if step := result.Steps[s.Vertex]; s.Vertex != nil && step != nil && step.Created.After(created) {
			created = step.Created
		}
	}
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	if epoch != nil {
		created = *epoch
	}
	img, err := exporter.Image(base, entries, plan.Config, platform, created)
	if err != nil || plan.Author == "" {
		return img, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Author = plan.Author
	return mutate.ConfigFile(img, cf)
}

// outputs turns --output, --push and -t into exporters, and the names the
// image gets.
func outputs(ctx context.Context, g *globalOptions, o buildOptions, stdout io.Writer) ([]exporter.Exporter, []string, error) {
	names := o.tags
	var exps []exporter.Exporter
	// As in buildx, --push is --output type=registry: no local copy.
	storeOut := len(o.outputs) == 0 && !o.push
	push := o.push
	for _, spec := range o.outputs {
		out, err := exporter.ParseOutput(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("--output %s: %w", spec, err)
		}
		onames := names
		if len(out.Names) > 0 {
			onames = out.Names
		}
		var e exporter.Exporter
		switch out.Type {
		case "oci":
			e = exporter.OCI(out.Dest, onames, out.Tar)
			if out.Dest == "-" {
				e = exporter.OCITo(stdout, onames)
			}
		case "docker":
			e = exporter.Docker(out.Dest, onames)
			if out.Dest == "-" {
				e = exporter.DockerTo(stdout, onames)
			}
		case "local":
			e = exporter.Local(out.Dest)
		case "tar":
			e = exporter.Tar(out.Dest)
			if out.Dest == "-" {
				e = exporter.TarTo(stdout)
			}
		case "registry":
			e = registryExporter(g, onames)
		case "image":
			// type=registry is image,push=true for ParseOutput, but it
			// means the registry only, as in buildx: no local store.
			if !strings.Contains(spec, "type=registry") {
				storeOut = true
			}
			if out.Push {
				if len(onames) == 0 {
					return nil, nil, fmt.Errorf("--output %s: needs name= or -t", spec)
				}
				e = registryExporter(g, onames)
			}
		default:
			return nil, nil, fmt.Errorf("--output %s: unknown type %q", spec, out.Type)
		}
		if e == nil {
			continue
		}
		if out.Compression != "" || out.ForceCompression {
			e = &recompressed{e: e, format: out.Compression, level: out.CompressionLevel, force: out.ForceCompression}
		}
		exps = append(exps, e)
	}
	if push {
		if len(names) == 0 {
			return nil, nil, errors.New("--push needs at least one -t name")
		}
		exps = append(exps, registryExporter(g, names))
	}
	if storeOut {
		exps = append([]exporter.Exporter{&lazyStoreExporter{g: g, names: names}}, exps...)
	}
	return exps, names, nil
}

func registryExporter(g *globalOptions, names []string) *pushExporter {
	return &pushExporter{g: g, names: names}
}

// pushExporter pushes to names with exporter.Registry, showing each
// push's upload progress once prog is set.
type pushExporter struct {
	g     *globalOptions
	names []string
	prog  *progress
	locs  *blobLocations // where the registry already holds blobs; may be nil
}

func (p *pushExporter) Export(ctx context.Context, img v1.Image) error {
	if p.locs != nil && len(p.names) > 0 {
		if ref, err := parseRef(p.g, p.names[0]); err == nil {
			img = p.locs.mountable(p.g, img, ref.Context())
		}
	}
	if err := p.export(ctx, img); err != nil {
		return err
	}
	if p.locs != nil {
		for _, n := range p.names {
			if ref, err := parseRef(p.g, n); err == nil {
				p.locs.add(ref.Context(), layerDigests(img))
			}
		}
	}
	return nil
}

func (p *pushExporter) export(ctx context.Context, img v1.Image) error {
	if p.prog == nil {
		return exporter.Registry(p.names, exporter.RegistryOptions{Insecure: p.g.insecure}).Export(ctx, img)
	}
	// The updates of a push do not say which name they are for, so push
	// one name at a time. Pushing names[:i+1] rather than names[i] alone
	// keeps the exporter mounting blobs from the first name pushed to the
	// same registry; the names before i are there already and cost a
	// HEAD each.
	for i, n := range p.names {
		updates := make(chan v1.Update)
		total := make(chan int64)
		go func() { total <- p.prog.push(n, updates) }()
		start := time.Now()
		err := exporter.Registry(p.names[:i+1], exporter.RegistryOptions{Insecure: p.g.insecure, Progress: updates}).Export(ctx, img)
		close(updates) // the exporter never closes it, and sends nothing once Export returns
		p.prog.pushed(n, <-total, time.Since(start), err)
		if err != nil {
			return err
		}
	}
	return nil
}

// recompressed exports an image with its layers in another compression
// (each layer compressed once, concurrently; layers already in the format
// are kept unless forced).
type recompressed struct {
	e      exporter.Exporter
	format string
	level  int
	force  bool
	src    exporter.Source // layer content from the build's snapshots
}

func (r *recompressed) Export(ctx context.Context, img v1.Image) error {
	img, err := exporter.RecompressFrom(ctx, img, r.format, r.level, r.force, r.src)
	if err != nil {
		return err
	}
	return r.e.Export(ctx, img)
}

// lazyStoreExporter writes into the local store opened at export time;
// then it keeps the pulled base images too (their layers are stored now).
type lazyStoreExporter struct {
	g     *globalOptions
	names []string
	res   *resolver
}

func (l *lazyStoreExporter) Export(ctx context.Context, img v1.Image) error {
	st, err := openState(l.g, false)
	if err != nil {
		return err
	}
	if err := exporter.Store(st.store, l.names).Export(ctx, img); err != nil {
		return err
	}
	if l.res != nil {
		return l.res.keepPulled(ctx)
	}
	return nil
}

// parseKV parses KEY=VALUE flags; with fromEnv a bare KEY takes its value
// from the environment (and is dropped when unset), as docker does.
func parseKV(kvs []string, fromEnv bool) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", kv)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%q: want KEY=VALUE", kv)
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		m[k] = v
	}
	return m, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH from the build args, else the
// environment.
func sourceDateEpoch(args map[string]string) (*time.Time, error) {
	s, ok := args["SOURCE_DATE_EPOCH"]
	if !ok {
		s, ok = os.LookupEnv("SOURCE_DATE_EPOCH")
	}
	if !ok || s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%s: not a number of seconds", s)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// parseSecrets reads --secret id=ID,src=FILE|env=VAR values.
func parseSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range specs {
		var id, src, env string
		for _, f := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
			default:
				return nil, fmt.Errorf("--secret %s: unknown key %q", spec, k)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("--secret %s: id is required", spec)
		}
		switch {
		case src != "":
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("--secret %s: %w", spec, err)
			}
			out[id] = b
		case env != "":
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, fmt.Errorf("--secret %s: environment variable %s is not set", spec, env)
			}
			out[id] = []byte(v)
		default:
			if v, ok := os.LookupEnv(id); ok {
				out[id] = []byte(v)
			} else {
				return nil, fmt.Errorf("--secret %s: give src=FILE or env=VAR", spec)
			}
		}
	}
	return out, nil
}

func parseLimits(o buildOptions) (sandbox.Limits, error) {
	var l sandbox.Limits
	if o.memory != "" {
		n, err := units.RAMInBytes(o.memory)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("--memory %s: not a size", o.memory)
		}
		l.Memory = n
	}
	if o.cpus < 0 {
		return l, fmt.Errorf("--cpus %v: must be positive", o.cpus)
	}
	l.CPUs = o.cpus
	if o.pidsLimit < 0 {
		return l, fmt.Errorf("--pids-limit %d: must be positive", o.pidsLimit)
	}
	l.Pids = o.pidsLimit
	return l, nil
}

// snapshotSource gives a layer's content from the snapshot its step left
// on disk: the same bytes as the stored blob (the recompressor checks the
// diffID), without decompressing it.
func snapshotSource(st *state, result *builder.Result, epoch *time.Time) exporter.Source {
	snaps := map[v1.Hash]string{}
	for _, s := range result.Steps {
		if s.Layer != nil && s.Record.Snapshot != "" {
			snaps[s.Layer.Digest] = s.Record.Snapshot
		}
	}
	return func(ctx context.Context, digest v1.Hash) (io.ReadCloser, bool) {
		name, ok := snaps[digest]
		if !ok {
			return nil, false
		}
		if _, err := st.snaps.Stat(ctx, name); err != nil {
			return nil, false
		}
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(st.snaps.Diff(ctx, pw, name, snapshot.DiffOptions{Epoch: epoch}))
		}()
		return pr, true
	}
}
