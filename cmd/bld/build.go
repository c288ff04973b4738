package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/progressui"
	"github.com/bldbuild/bld/state"
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
	platform      []string
	outputs       []string
	push          bool
	iidfile       string
	metadataFile  string
	progress      string
	secrets       []string
	network       string
	isolation     string
	memory        string
	diskLimit     string
	cpus          float64
	pidsLimit     int64
	jobs          int
	failOnMiss    bool
	check         bool
	checkSkip     []string
	cacheFrom     []string
	cacheTo       []string
	limits        []string
	allow         []string
	quiet         bool
	builder       string
	annotations   []string
	context       string
	addHosts      []string
	shmSize       string
	ulimits       []string
	load          bool
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.context = args[0]
			if err := checkRefusedFlags(cmd.Flags()); err != nil {
				return err
			}
			if cmd.Flags().Lookup("call").Value.String() == "check" {
				o.check = true
			}
			if o.load {
				o.outputs = append(o.outputs, "type=docker")
			}
			if o.quiet {
				o.progress = "quiet"
			}
			if o.builder != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "bld: --builder %s ignored: bld runs builds itself, with no builder instances\n", o.builder)
			}
			return runBuild(cmd.Context(), g, o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - for stdin)")
	stringArrayVarP(f, &o.tags, "tag", "t", "name and optionally a tag (name:tag)")
	stringArrayVarP(f, &o.buildArgs, "build-arg", "", "set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	f.StringVar(&o.target, "target", "", "build this stage")
	stringArrayVarP(f, &o.labels, "label", "", "set image metadata (KEY=VALUE)")
	f.BoolVar(&o.pull, "pull", false, "always look up base images in their registry")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the cache")
	stringArrayVarP(f, &o.noCacheFilter, "no-cache-filter", "", "do not use the cache for these stages")
	stringArrayVarP(f, &o.platform, "platform", "", "target platforms (os/arch[/variant], e.g. linux/amd64,linux/arm64, or local; comma list, repeatable): several make one OCI index; RUN steps for another CPU run under QEMU (bld binfmt)")
	stringArrayVarP(f, &o.outputs, "output", "o", "output destination (type=oci|docker|registry|local|tar|image,dest=...; type=docker without dest is --load)")
	f.BoolVar(&o.push, "push", false, "push every -t name to its registry")
	f.StringVar(&o.iidfile, "iidfile", "", "write the image digest to this file")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write build results as JSON to this file")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto (tty on a terminal, else plain), plain, tty, rawjson, quiet")
	stringArrayVarP(f, &o.secrets, "secret", "", "secret for RUN --mount=type=secret (id=ID,src=FILE or id=ID,env=VAR)")
	f.StringVar(&o.isolation, "isolation", "", "how RUN steps are isolated: default (namespaces, seccomp, cgroups) or chroot (a chroot only, for containers that allow no namespace or mount: weaker); unset: default, or chroot with a warning where no namespace can be made")
	f.StringVar(&o.network, "network", "default", "default network for RUN: default (own namespace, outbound access), none, or host (needs --allow network.host)")
	stringSliceVarP(f, &o.allow, "allow", "", "grant an entitlement: network.host (RUN on the host's network), security.insecure (RUN --security=insecure: all capabilities, no seccomp)")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit for each RUN step (e.g. 512m)")
	f.StringVar(&o.diskLimit, "disk-limit", "", "bytes each RUN step may write (e.g. 1g); the step fails past it")
	f.Float64Var(&o.cpus, "cpus", 0, "CPU limit for each RUN step")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "process limit for each RUN step")
	f.IntVar(&o.jobs, "jobs", max(4, 2*runtime.NumCPU()), "steps executed at once (RUN steps often wait on I/O, so more than the CPU count)")
	f.BoolVar(&o.failOnMiss, "fail-on-cache-miss", false, "fail before running any step the cache does not have")
	f.BoolVar(&o.check, "check", false, "run the build checks only, do not build")
	stringArrayVarP(f, &o.cacheFrom, "cache-from", "", "import build cache (type=registry,ref=REF | type=local,src=DIR | REF)")
	stringArrayVarP(f, &o.cacheTo, "cache-to", "", "export build cache (type=registry,ref=REF[,mode=min|max][,cache-mounts=true] | type=local,dest=DIR | type=inline)")
	stringArrayVarP(f, &o.limits, "limit", "", "raise or lower a bound on the build's input (KEY=VALUE; keys: "+strings.Join(build.LimitKeys(), ", ")+")")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the image digest (as --progress quiet)")
	f.StringVar(&o.builder, "builder", "", "accepted for buildx scripts and ignored: bld has no builder instances")
	stringArrayVarP(f, &o.annotations, "annotation", "", "add an annotation to the image manifest ([manifest:]KEY=VALUE)")
	stringArrayVarP(f, &o.addHosts, "add-host", "", "add a line to /etc/hosts of every RUN step (NAME:IP or NAME=IP)")
	f.StringVar(&o.shmSize, "shm-size", "", "size of /dev/shm of every RUN step (e.g. 128m; default 64m)")
	stringArrayVarP(f, &o.ulimits, "ulimit", "", "resource limit of every RUN step (TYPE=SOFT[:HARD], e.g. nofile=1024:2048)")
	stringSliceVarP(f, &o.checkSkip, "check-skip", "", "build checks to skip (all for every check)")
	f.BoolVar(&o.load, "load", false, "also load the image into the running docker (DOCKER_HOST or /var/run/docker.sock), else podman, and fail before building when neither runs; bld's store is written as always (as -o type=docker)")
	addRefusedFlags(f)
	return cmd
}

// buildMetadata is what --metadata-file writes, with buildx's key names.
type buildMetadata struct {
	Digest       string       `json:"containerimage.digest"`
	ConfigDigest string       `json:"containerimage.config.digest,omitempty"` // none for an index, as BuildKit
	Names        string       `json:"image.name,omitempty"`
	Steps        []build.Step `json:"bld.steps"`
	CacheHits    int          `json:"bld.cache.hits"`
	CacheMisses  int          `json:"bld.cache.misses"`
}

func runBuild(ctx context.Context, g *globalOptions, o buildOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := buildOpts(g, o, stdin, stdout)
	if err != nil {
		return err
	}
	if opts, err = build.Prepare(opts); err != nil {
		return err
	}
	mode := progressui.Mode(o.progress, stderr)
	checkOut := stderr
	if o.check {
		checkOut = stdout
	}
	// A build opens its root once, for the checks and the build: each
	// open takes the root lock and scans tmp/ and the snapshots.
	var root *state.Root
	if !o.check {
		root, err = state.Open(ctx, g.root, state.Options{Snapshots: true, CleanupBeside: true})
		if err != nil {
			return err
		}
		defer root.Wait()
	}
	if err := preBuildChecks(g, root, o, opts, checkOut); err != nil || o.check {
		return err
	}
	opts.Root = root
	prog := progressui.New(mode, stderr)
	defer prog.Close()
	opts.Progress = prog
	res, err := build.Run(ctx, opts)
	prog.Close()
	if ctx.Err() == nil {
		// An interrupted build ends with its CANCELED step, not warnings.
		postBuildChecks(opts.Root, o, opts, stderr, mode)
	}
	if err != nil {
		return err
	}
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(res.Digest.String()), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if o.metadataFile != "" {
		md := buildMetadata{Digest: res.Digest.String(), ConfigDigest: res.ConfigDigest.String(), Names: strings.Join(res.Names, ","),
			Steps: res.Steps, CacheHits: res.CacheHits, CacheMisses: res.CacheMisses}
		if res.Index != nil {
			md.ConfigDigest = "" // a multi-platform build: one config per platform
		}
		b, _ := json.MarshalIndent(md, "", "  ") // strings and ints: cannot fail
		if err := os.WriteFile(o.metadataFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--metadata-file: %w", err)
		}
	}
	if !build.ToStdout(o.outputs) {
		fmt.Fprintln(stdout, res.Digest)
	}
	return nil
}

// buildOpts turns the flags into build.Options (all but Root and Progress).
func buildOpts(g *globalOptions, o buildOptions, stdin io.Reader, stdout io.Writer) (build.Options, error) {
	opts := build.Options{
		ContextDir: o.context, DockerfilePath: o.file, Target: o.target, Tags: o.tags,
		Outputs: o.outputs, Push: o.push, Stdout: stdout, Pull: o.pull, NoCache: o.noCache,
		NoCacheFilter: o.noCacheFilter, FailOnMiss: o.failOnMiss, Network: o.network, Allow: o.allow, Jobs: o.jobs, Annotations: o.annotations,
		CacheFrom: o.cacheFrom, CacheTo: o.cacheTo, Insecure: g.insecure,
	}
	var err error
	if o.file == "-" {
		opts.DockerfilePath = filepath.Join(o.context, "Dockerfile")
		if opts.Dockerfile, err = io.ReadAll(stdin); err != nil {
			return opts, fmt.Errorf("read Dockerfile: %w", err)
		}
	}
	if len(o.platform) > 0 {
		if opts.Platforms, err = build.ParsePlatforms(o.platform); err != nil {
			return opts, err
		}
	}
	if opts.BuildArgs, err = build.ParseKV(o.buildArgs, true); err != nil {
		return opts, fmt.Errorf("--build-arg: %w", err)
	}
	if opts.Labels, err = build.ParseKV(o.labels, false); err != nil {
		return opts, fmt.Errorf("--label: %w", err)
	}
	epoch, ok := opts.BuildArgs["SOURCE_DATE_EPOCH"]
	if !ok {
		epoch = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if opts.Epoch, err = build.SourceDateEpoch(epoch); err != nil {
		return opts, err
	}
	if opts.Secrets, err = build.ParseSecrets(o.secrets); err != nil {
		return opts, err
	}
	for _, l := range o.limits {
		if err := opts.Limits.SetLimit(l); err != nil {
			return opts, err
		}
	}
	if opts.DiskLimit, err = build.ParseSize("--disk-limit", o.diskLimit); err != nil {
		return opts, err
	}
	if opts.ExtraHosts, err = build.ParseAddHosts(o.addHosts); err != nil {
		return opts, err
	}
	if o.shmSize != "" {
		if opts.ShmSize, err = build.ParseShmSize(o.shmSize); err != nil {
			return opts, err
		}
	}
	if opts.Ulimits, err = build.ParseUlimits(o.ulimits); err != nil {
		return opts, err
	}
	switch o.isolation {
	case "", "default", "chroot":
		opts.Isolation = o.isolation
	default:
		return opts, fmt.Errorf("--isolation %s: unknown (default or chroot)", o.isolation)
	}
	opts.Resources, err = build.ParseResources(o.memory, o.cpus, o.pidsLimit)
	return opts, err
}
