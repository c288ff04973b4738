package conformance

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

var (
	flagBuildahOnly    = flag.Bool("buildah-only", false, "check only the buildah side of each case (bld is not built or run)")
	flagBld            = flag.String("bld", "", "use this bld binary instead of building ./cmd/bld")
	flagShow           = flag.Bool("show", false, "log what each builder changed relative to the base image (a help for writing case.json)")
	flagRebuildBuildah = flag.Bool("rebuild-buildah", false, "build every case with buildah again instead of using the records cached from earlier runs")
	flagKeep           = flag.Bool("keep", false, "keep each case's work dir (contexts, tarballs, unpacked images, command log) and print where")
)

// parallelCases bounds how many cases build at once (the CI machine has
// two cores; buildah and bld each use about one while building).
const parallelCases = 2

const casesDir = "../../testdata/conformance"

// bldBinary is the -bld binary, or ./cmd/bld built once per test process
// (testutil.Bld); each case then runs it.
func bldBinary(t *testing.T) string {
	t.Helper()
	if *flagBld != "" {
		return *flagBld
	}
	return testutil.Bld(t)
}

// suite is what all cases share.
type suite struct {
	dir            string // the suite's temp dir
	tmp            string // TMPDIR for buildah and skopeo
	rootfs         string // the base image's root filesystem
	base           tree   // rootfs, walked
	bld            string // the bld binary
	buildah        lazyBuildah
	buildahVersion string
	cache          referenceCache
	sem            chan struct{}
	baseTar        string         // rootfs as a tarball, what bld imports (root and rootless)
	user           *testutil.User // runs bld rootless (nil with -buildah-only)
	userBld        string         // the bld binary, where the user can run it
}

func TestConformance(t *testing.T) {
	testutil.RequireRoot(t) // buildah builds and umoci unpacks with real ownership
	if missing := missingTools(); len(missing) > 0 {
		t.Skipf("needs %s on PATH", strings.Join(missing, ", "))
	}
	cases, err := loadCases(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases under %s", casesDir)
	}

	ctx := t.Context()
	dir := t.TempDir()
	s := &suite{
		dir:    dir,
		tmp:    filepath.Join(dir, "tmp"),
		rootfs: filepath.Join(dir, "rootfs"),
		cache:  openReferenceCache(),
		sem:    make(chan struct{}, parallelCases),
	}
	if !*flagBuildahOnly {
		s.bld = bldBinary(t)
	}
	// The base image: /dev, /proc, /sys and /run exist so that neither
	// builder has to create them as mount points during RUN (their stubs
	// would be noise in every RUN case); /etc has no hosts, hostname or
	// resolv.conf, so a RUN step that leaves those behind is seen.
	testutil.BusyboxRootfs(t, s.rootfs)
	if s.base, err = walkTree(s.rootfs); err != nil {
		t.Fatal(err)
	}
	if !*flagBuildahOnly {
		s.setupRootless(t)
	}
	// buildah and skopeo put big temporary files (and cache mounts) under TMPDIR.
	if err := os.Mkdir(s.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.buildahVersion, err = buildahVersion(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.buildah.cleanup)

	// The cases run in parallel after this function returns; the cleanups
	// above (buildah's storage, the temp dir) run when all of them are done.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s.sem <- struct{}{}
			defer func() { <-s.sem }()
			s.runCase(t, tc)
		})
	}
}

func (s *suite) runCase(t *testing.T, tc *testCase) {
	ctx := t.Context()
	spec := &tc.spec
	work := t.TempDir()
	if *flagKeep {
		var err error
		if work, err = os.MkdirTemp("", "bld-conformance-"+tc.name+"-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("work dir: %s", work)
	}
	r := &runner{log: filepath.Join(work, "commands.log"), env: []string{"TMPDIR=" + s.tmp}}
	defer func() {
		if !t.Failed() {
			return
		}
		if spec.Note != "" {
			t.Logf("note: %s", spec.Note)
		}
		if !*flagKeep {
			if b, err := os.ReadFile(r.log); err == nil {
				t.Logf("command log:\n%s", tail(string(b), 60))
			}
		}
	}()

	// The context is a copy, so fixtures made by setup.sh (setuid bits,
	// hardlinks, tarballs, things git cannot hold) never touch the
	// repository, and so the suite can check that no build changed it.
	ctxDir := filepath.Join(work, "context")
	if tc.hasContext {
		if err := copyTree(filepath.Join(tc.dir, caseContextDir), ctxDir); err != nil {
			t.Fatalf("copy context: %v", err)
		}
	} else if err := os.Mkdir(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if tc.hasSetup {
		if _, err := r.runIn(ctx, ctxDir, "/bin/sh", "-e", filepath.Join(tc.dir, caseSetupScript)); err != nil {
			t.Fatalf("setup.sh: %v", err)
		}
	}
	ctxBefore, err := walkTree(ctxDir)
	if err != nil {
		t.Fatal(err)
	}

	opts := buildOpts{
		context:   ctxDir,
		tag:       "conformance-" + tc.name,
		buildArgs: spec.BuildArgs,
		target:    spec.Target,
		secrets:   map[string]string{},
	}
	for id, f := range spec.Secrets {
		opts.secrets[id] = filepath.Join(tc.dir, f)
	}

	// bld first: it is the side under test, and buildah 1.28 may write
	// into the context through an rw bind mount.
	var bldImg *image
	ctxIntact := true
	if !*flagBuildahOnly {
		bldImg = s.buildBld(t, tc, r, opts, work)
		s.checkRootless(t, tc, r, opts, work, bldImg)
		ctxAfter, err := walkTree(ctxDir)
		if err != nil {
			t.Fatal(err)
		}
		if d := compare(&image{fs: ctxAfter}, &reference{img: &image{fs: ctxBefore}}, nil); len(d) > 0 {
			t.Errorf("bld changed the build context (BLD column: after the build, WANT: before):\n%s", table(d))
			ctxIntact = false
		}
	}

	var buildahImg *image
	if !spec.SkipBuildah {
		rec := s.buildahRecord(t, tc, r, opts, work, ctxBefore, ctxIntact)
		switch {
		case len(spec.ExpectError) > 0 && !rec.Failed:
			t.Errorf("buildah: build succeeded, want it to fail like bld must")
		case len(spec.ExpectError) > 0:
			t.Logf("buildah failed as expected: %s", rec.Output)
		case rec.Failed:
			t.Fatalf("buildah: build failed: %s", rec.Output)
		default:
			buildahImg = &image{fs: rec.FS, config: rec.Config}
		}
	}
	if len(spec.ExpectError) > 0 {
		return
	}

	if *flagShow {
		for _, img := range []struct {
			name string
			img  *image
		}{{"bld", bldImg}, {"buildah", buildahImg}} {
			if img.img != nil {
				t.Logf("%s changed, relative to the base image:\n%s", img.name, describeChanges(img.img, s.base))
			}
		}
	}
	if stale := staleExpectations(buildahImg, spec.Expect); len(stale) > 0 {
		t.Logf("buildah already meets these expectations (is the note still true?): %s", strings.Join(stale, "; "))
	}
	if bldImg == nil {
		return
	}
	for _, leak := range leakedSecrets(t, bldImg, opts.secrets, filepath.Join(work, "bld", "bundle", "rootfs")) {
		t.Errorf("bld: %s", leak)
	}
	ref, err := applyExpect(buildahImg, spec.Expect)
	if err != nil {
		t.Fatal(err)
	}
	if d := compare(bldImg, ref, spec.Ignore); len(d) > 0 {
		t.Errorf("bld's image differs (WANT is buildah's image, or case.json's expect where FROM says so):\n%s", table(d))
	}
}

// buildahRecord builds the case with buildah, or takes the record of an
// identical earlier build from the cache (only while bld left the context
// as it was: buildah builds whatever is there).
func (s *suite) buildahRecord(t *testing.T, tc *testCase, r *runner, opts buildOpts, work string, ctxBefore tree, ctxIntact bool) *buildahRecord {
	t.Helper()
	ctx := t.Context()
	opts.dockerfile = tc.buildahDockerfile
	opts.extra = tc.spec.BuildahFlags
	key, err := s.cache.key(s.buildahVersion, s.base, tc, opts, ctxBefore)
	if err != nil {
		t.Fatal(err)
	}
	if ctxIntact {
		if rec := s.cache.get(tc.name, key); rec != nil {
			r.note("buildah: using the record of an identical earlier build (%s); -rebuild-buildah builds again", s.cache.path(tc.name, key))
			return rec
		}
	}

	b := s.buildah.get(t, s).withRunner(r)
	out, err := b.build(ctx, opts)
	rec := &buildahRecord{}
	switch {
	case err != nil && !exitedNonZero(err):
		t.Fatalf("buildah: %v", err)
	case err != nil:
		rec.Failed, rec.Output = true, lastLine(out)
		if len(tc.spec.ExpectError) == 0 {
			t.Fatalf("buildah: %v", err) // the whole output, not the record's last line
		}
	default:
		img, err := b.export(ctx, opts.tag, work)
		if err != nil {
			t.Fatalf("buildah: export: %v", err)
		}
		rec.FS, rec.Config = img.fs, img.config
		for _, leak := range leakedSecrets(t, img, opts.secrets, filepath.Join(work, "buildah", "bundle", "rootfs")) {
			t.Logf("buildah (not under test): %s", leak)
		}
	}

	if ctxAfter, err := walkTree(opts.context); err != nil {
		t.Fatal(err)
	} else if d := compare(&image{fs: ctxAfter}, &reference{img: &image{fs: ctxBefore}}, nil); len(d) > 0 {
		// Not bld's doing; a case whose result depends on it says so in
		// its note and expectations.
		t.Logf("buildah changed the build context (BLD column: after buildah, WANT: before):\n%s", table(d))
	}
	if ctxIntact && !t.Failed() {
		if err := s.cache.put(tc.name, key, rec); err != nil {
			t.Logf("cache buildah's record: %v", err)
		}
	}
	return rec
}

// buildBld imports the base and builds the case with bld. It returns nil
// when the case expects an error (after checking it).
func (s *suite) buildBld(t *testing.T, tc *testCase, r *runner, opts buildOpts, work string) *image {
	t.Helper()
	ctx := t.Context()
	d := &bld{r: r, bin: s.bld, root: filepath.Join(work, "bld-root")}
	if err := d.importBase(ctx, s.baseTar); err != nil {
		t.Fatalf("bld import: %v", err)
	}
	o := opts
	o.dockerfile = tc.dockerfile
	out := filepath.Join(work, "bld.tar")
	stderr, err := d.build(ctx, o, out)
	if len(tc.spec.ExpectError) > 0 {
		if err == nil {
			t.Errorf("bld: build succeeded, want an error containing %q", []string(tc.spec.ExpectError))
			return nil
		}
		if !exitedNonZero(err) {
			t.Errorf("bld: %v", err)
			return nil
		}
		for _, sub := range tc.spec.ExpectError {
			if !strings.Contains(stderr, sub) {
				t.Errorf("bld: error output does not contain %q:\n%s", sub, tail(stderr, 20))
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("bld: failed build left an output at %s", out)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("bld: %v", err)
	}
	img, err := unpackOCITar(ctx, r, out, filepath.Join(work, "bld"))
	if err != nil {
		t.Fatalf("bld: unpack output: %v", err)
	}
	return img
}

// leakedSecrets lists where a secret's content is in the image (unpacked
// at rootfs): a file or the config.
func leakedSecrets(t *testing.T, img *image, secrets map[string]string, rootfs string) []string {
	t.Helper()
	var leaks []string
	for id, f := range secrets {
		secret, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		secret = bytes.TrimSpace(secret)
		if len(secret) == 0 {
			continue
		}
		if bytes.Contains([]byte(fmt.Sprint(img.config)), secret) {
			leaks = append(leaks, fmt.Sprintf("secret %s is in the image config", id))
		}
		for _, p := range sortedKeys(img.fs) {
			if e := img.fs[p]; e.Type != "file" || e.Size < int64(len(secret)) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(rootfs, p))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, secret) {
				leaks = append(leaks, fmt.Sprintf("secret %s is in %s", id, p))
			}
		}
	}
	return leaks
}

func (b *buildah) withRunner(r *runner) *buildah {
	c := *b
	c.r = r
	return &c
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
