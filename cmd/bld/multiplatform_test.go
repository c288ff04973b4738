package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/internal/binfmt"
	"github.com/bldbuild/bld/internal/testutil"
)

// multiDockerfile has a stage on the build platform that does not depend
// on the target (run once for both platforms), one on the build platform
// that does (TARGETARCH: once per platform, natively), and a final stage
// per platform whose RUN is emulated for arm64.
const multiDockerfile = `ARG BASE
FROM --platform=$BUILDPLATFORM $BASE AS tools
RUN uname -m > /tools-arch
FROM --platform=$BUILDPLATFORM $BASE AS cross
ARG TARGETARCH
RUN echo "$TARGETARCH" > /target
FROM $BASE
COPY --from=tools /tools-arch /tools-arch
COPY --from=cross /target /target
RUN uname -m > /arch
`

// TestMultiPlatformPush builds linux/amd64 and linux/arm64 in one run
// from a two-platform busybox index in a real registry (needs root:
// namespaces, and binfmt_misc for the emulated arm64 RUN; the test removes
// the handler it registers and unmounts binfmt_misc if it mounted it). It
// pushes one OCI index, which skopeo reads (--raw, --override-arch arm64)
// and umoci unpacks per platform; the shared stage ran once.
func TestMultiPlatformPush(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (namespaces, binfmt_misc); CI runs as root")
	}
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	r, reg, dir, ctx := multiFixture(t, true)
	app := reg + "/app:v1"
	cacheDir := filepath.Join(dir, "cache")
	out := r.must("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--push", "-t", app,
		"--cache-to", "type=local,dest="+cacheDir+",mode=max", ctx)
	// The shared stage is one step; each platform names itself.
	if n := strings.Count(out, "RUN uname -m > /tools-arch\n"); n != 1 {
		t.Errorf("the shared stage's RUN shows %d times, want 1:\n%s", n, out)
	}
	for _, want := range []string{
		"[linux/amd64 tools 2/2] RUN uname -m > /tools-arch",
		"[linux/amd64->arm64 cross 2/2] RUN echo \"arm64\" > /target",
		"[linux/amd64 cross 2/2] RUN echo \"amd64\" > /target",
		"[linux/arm64 stage-2 4/4] RUN uname -m > /arch",
		"[linux/amd64 stage-2 4/4] RUN uname -m > /arch",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}

	raw := testutil.Run(t, skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+app)
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	if len(im.Manifests) != 2 || im.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("pushed index: %s", raw)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		if p := im.Manifests[i].Platform; p == nil || p.OS != "linux" || p.Architecture != arch {
			t.Errorf("manifest %d platform %+v, want linux/%s", i, p, arch)
		}
	}
	cfg := testutil.Run(t, skopeo, "inspect", "--tls-verify=false", "--override-arch", "arm64", "docker://"+app)
	if !strings.Contains(string(cfg), `"Architecture": "arm64"`) {
		t.Errorf("skopeo inspect --override-arch arm64:\n%s", cfg)
	}
	podmanPullPlatforms(t, app)

	for _, c := range []struct{ arch, uname string }{{"amd64", "x86_64"}, {"arm64", "aarch64"}} {
		ociDir := filepath.Join(dir, "oci-"+c.arch)
		testutil.Run(t, skopeo, "copy", "--src-tls-verify=false", "--override-arch", c.arch, "docker://"+app, "oci:"+ociDir+":app")
		bundle := filepath.Join(dir, "bundle-"+c.arch)
		testutil.Run(t, umoci, "unpack", "--image", ociDir+":app", bundle)
		rootfs := filepath.Join(bundle, "rootfs")
		for file, want := range map[string]string{"arch": c.uname, "target": c.arch, "tools-arch": "x86_64"} {
			b, err := os.ReadFile(filepath.Join(rootfs, file))
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s: /%s = %q, %v; want %q", c.arch, file, b, err, want)
			}
		}
		f, err := elf.Open(filepath.Join(rootfs, "bin", "busybox"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[c.arch]
		if f.Machine != want {
			t.Errorf("%s: /bin/busybox is %s, want %s", c.arch, f.Machine, want)
		}
		f.Close()
	}

	// Again into an OCI layout: every step cached, the same index.
	dest := filepath.Join(dir, "out-oci")
	out = r.must("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--output", "type=oci,tar=false,dest="+dest, ctx)
	if strings.Contains(out, "DONE") && !strings.Contains(out, "CACHED") {
		t.Errorf("rebuild ran steps:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top v1.IndexManifest
	if err = json.Unmarshal(b, &top); err != nil || len(top.Manifests) != 1 || top.Manifests[0].Digest.String() != digestOf(t, raw) {
		t.Errorf("oci layout index.json %s: want the pushed index %s (%v)", b, digestOf(t, raw), err)
	}

	// Index and descriptor annotations, as buildx's --annotation.
	destAnn := filepath.Join(dir, "out-ann")
	r.must("build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi",
		"--annotation", "index:org.example.index=i", "--annotation", "manifest-descriptor:org.example.desc=d", "--annotation", "org.example.manifest=m",
		"--output", "type=oci,tar=false,dest="+destAnn, ctx)
	lp, err := layout.FromPath(destAnn)
	if err != nil {
		t.Fatal(err)
	}
	top2, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top2.IndexManifest()
	if err != nil || len(tm.Manifests) != 1 {
		t.Fatalf("oci layout: %v %v", tm, err)
	}
	built, err := top2.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := built.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if bm.Annotations["org.example.index"] != "i" || len(bm.Manifests) != 2 || bm.Manifests[1].Annotations["org.example.desc"] != "d" {
		t.Errorf("index annotations: %+v", bm)
	}
	if m, err := built.Image(bm.Manifests[1].Digest); err != nil {
		t.Error(err)
	} else if mf, err := m.Manifest(); err != nil || mf.Annotations["org.example.manifest"] != "m" {
		t.Errorf("manifest annotations: %+v %v", mf, err)
	}

	// The cache export carries every platform: an empty root builds
	// the same index from it, running nothing.
	rb := bldRunner{t: t, bin: r.bin, env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root-b"))}
	destB := filepath.Join(dir, "out-oci-b")
	out = rb.must("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi",
		"--cache-from", "type=local,src="+cacheDir, "--output", "type=oci,tar=false,dest="+destB, ctx)
	if n := strings.Count(out, "CACHED"); n != 9 {
		t.Errorf("build from the exported cache: %d steps CACHED, want every one (9):\n%s", n, out)
	}
	if b, err := os.ReadFile(filepath.Join(destB, "index.json")); err != nil || !strings.Contains(string(b), digestOf(t, raw)) {
		t.Errorf("build from the exported cache: index.json %s, want the pushed index %s (%v)", b, digestOf(t, raw), err)
	}

	// type=local and type=tar, split per platform as buildx lays them
	// out; unsplit, the platforms' common paths are an error.
	split := filepath.Join(dir, "split")
	r.must("build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--output", "type=local,dest="+split, ctx)
	for dirName, want := range map[string]string{"linux_amd64": "x86_64", "linux_arm64": "aarch64"} {
		if b, err := os.ReadFile(filepath.Join(split, dirName, "arch")); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("type=local %s/arch = %q, %v; want %q", dirName, b, err, want)
		}
	}
	tarOut := filepath.Join(dir, "split.tar")
	r.must("build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--output", "type=tar,dest="+tarOut, ctx)
	if out := string(testutil.Run(t, "tar", "-tf", tarOut)); !strings.Contains(out, "linux_amd64/arch\n") || !strings.Contains(out, "linux_arm64/arch\n") {
		t.Errorf("type=tar entries lack linux_amd64/arch and linux_arm64/arch:\n%.2000s", out)
	}
	out, err = r.run("build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--output", "type=local,platform-split=false,dest="+filepath.Join(dir, "merged"), ctx)
	if err == nil || !strings.Contains(out, "from linux/amd64 with linux/arm64 when split option is disabled") {
		t.Errorf("type=local,platform-split=false: %v\n%s", err, out)
	}

	// Into the local store: the name points at the index; images,
	// inspect, history and du understand it, and a later build picks
	// its platform's manifest from it.
	meta := filepath.Join(dir, "meta.json")
	r.must("build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "-t", "app:multi", "--metadata-file", meta, ctx)
	if b := readFile(t, meta); !strings.Contains(b, `"containerimage.digest": "`+digestOf(t, raw)+`"`) || strings.Contains(b, "containerimage.config.digest") {
		t.Errorf("--metadata-file of a multi-platform build: want the index digest %s and no config digest:\n%s", digestOf(t, raw), b)
	}
	out = r.must("images")
	for _, n := range []string{"docker.io/library/app:multi", reg + "/busybox:multi"} {
		// The pulled base is kept as the index it was pulled through.
		if !strings.Contains(out, "PLATFORMS") || !regexp.MustCompile(regexp.QuoteMeta(n)+` .* linux/amd64,linux/arm64\n`).MatchString(out) {
			t.Errorf("bld images: %s not listed with both platforms:\n%s", n, out)
		}
	}
	var ins struct {
		Platforms []struct {
			Platform string        `json:"platform"`
			Config   v1.ConfigFile `json:"config"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal([]byte(r.must("inspect", "app:multi")), &ins); err != nil || len(ins.Platforms) != 2 ||
		ins.Platforms[1].Platform != "linux/arm64" || ins.Platforms[1].Config.Architecture != "arm64" {
		t.Errorf("bld inspect app:multi: %+v, %v", ins, err)
	}
	if out := r.must("history", "--platform", "linux/arm64", "app:multi"); !strings.Contains(out, "linux/arm64)") || !strings.Contains(out, "uname -m > /arch") {
		t.Errorf("bld history --platform linux/arm64:\n%s", out)
	}
	if out := r.must("history", "app:multi"); !strings.Contains(out, "linux/amd64)") {
		t.Errorf("bld history (host platform by default):\n%s", out)
	}
	r.must("du")
	ctx2 := filepath.Join(dir, "ctx2")
	if err := os.MkdirAll(ctx2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx2, "Dockerfile"), []byte("FROM app:multi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "local-arm64")
	r.must("build", "--progress", "quiet", "--platform", "linux/arm64", "--output", "type=local,dest="+local, ctx2)
	if b, err := os.ReadFile(filepath.Join(local, "arch")); err != nil || strings.TrimSpace(string(b)) != "aarch64" {
		t.Errorf("FROM app:multi for linux/arm64: /arch = %q, %v; want aarch64", b, err)
	}

	// A single-platform base of another platform is used, with
	// BuildKit's warning.
	if err := os.WriteFile(filepath.Join(ctx2, "Dockerfile"), []byte("FROM "+reg+"/busybox:arm64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = r.must("build", "--progress", "plain", "--platform", "linux/amd64", "--output", "type=local,dest="+filepath.Join(dir, "mismatch"), ctx2)
	if want := `InvalidBaseImagePlatform: Base image ` + reg + `/busybox:arm64 was pulled with platform "linux/arm64", expected "linux/amd64" for current build`; !strings.Contains(out, want) {
		t.Errorf("no %q in:\n%s", want, out)
	}

	// type=docker takes one platform: refused before anything runs, in
	// buildx's words.
	out, err = r.run("build", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", "--output", "type=docker,dest="+filepath.Join(dir, "d.tar"), ctx)
	if err == nil || !strings.Contains(out, "docker exporter does not currently support exporting manifest lists") {
		t.Errorf("type=docker: %v\n%s", err, out)
	}
}

func digestOf(t *testing.T, b []byte) string {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// multiFixture makes what the multi-platform tests share: a registry
// holding busybox:multi (an index of amd64 and arm64 busybox images), a
// bld state root, a context with multiDockerfile, and an arm64 emulator
// registered (removed at the end if the fixture registered it; with
// checkMissing, a build without it is checked to fail first, naming bld
// binfmt --install).
func multiFixture(t *testing.T, checkMissing bool) (r bldRunner, reg, dir, ctx string) {
	t.Helper()
	arm64 := specs.Platform{OS: "linux", Architecture: "arm64"}
	keepBinfmtState(t)
	reg = testutil.Registry(t)
	dir = t.TempDir()
	r = bldRunner{t: t, bin: testutil.Bld(t), env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))}

	// The base: busybox for both CPUs, pushed, then joined in an index.
	amdRoot, armRoot := filepath.Join(dir, "bb-amd64"), filepath.Join(dir, "bb-arm64")
	testutil.BusyboxRootfs(t, amdRoot)
	testutil.ForeignBusyboxRootfs(t, armRoot, "arm64")
	r.must("import", "--platform", "linux/amd64", amdRoot, reg+"/busybox:amd64")
	r.must("import", "--platform", "linux/arm64", armRoot, reg+"/busybox:arm64")
	r.must("push", reg+"/busybox:amd64")
	r.must("push", reg+"/busybox:arm64")
	var pis []exporter.PlatformImage
	for _, arch := range []string{"amd64", "arm64"} {
		ref, err := name.ParseReference(reg+"/busybox:"+arch, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		pis = append(pis, exporter.PlatformImage{Platform: v1.Platform{OS: "linux", Architecture: arch}, Image: img})
	}
	idx, err := exporter.Index(pis)
	if err != nil {
		t.Fatal(err)
	}
	base, err := name.ParseReference(reg+"/busybox:multi", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(base, idx); err != nil {
		t.Fatal(err)
	}

	ctx = filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(multiDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if binfmt.Check(arm64) != nil && checkMissing {
		out, err := r.run("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+reg+"/busybox:multi", ctx)
		if err == nil || !strings.Contains(out, `bld binfmt --install arm64`) {
			t.Fatalf("build without an emulator: %v\n%s", err, out)
		}
	}
	if binfmt.Check(arm64) != nil {
		r.must("binfmt", "--install", "arm64")
	}

	return r, reg, dir, ctx
}

// TestMultiPlatformBuildah compares a two-platform build per platform with
// buildah's (`buildah build --platform linux/amd64,linux/arm64 --manifest`,
// emulated the same way; needs root): each platform's /arch, /target,
// and busybox ELF machine are the same. Where buildah departs from
// BuildKit, bld follows BuildKit, and the test says so: buildah 1.28 runs
// the FROM --platform=$BUILDPLATFORM tools stage once per platform and on
// the target platform; bld (as BuildKit) once, on the build platform.
func TestMultiPlatformBuildah(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (namespaces, binfmt_misc); CI runs as root")
	}
	testutil.RequireTool(t, "buildah")
	skopeo := testutil.RequireTool(t, "skopeo")
	umoci := testutil.RequireTool(t, "umoci")
	r, reg, dir, ctx := multiFixture(t, false)
	base := "BASE=" + reg + "/busybox:multi"

	out := r.must("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", base, "--output", "type=local,dest="+filepath.Join(dir, "bld"), ctx)
	if n := strings.Count(out, "RUN uname -m > /tools-arch\n"); n != 1 {
		t.Errorf("bld ran the tools stage %d times, want once (BuildKit dedups it)", n)
	}

	bh := filepath.Join(dir, "buildah")
	global := []string{"--root", filepath.Join(bh, "root"), "--runroot", filepath.Join(bh, "run"), "--storage-driver", "vfs"}
	t.Cleanup(func() {
		// vfs layers are plain dirs; buildah's mounts, if any, go first.
		_ = exec.Command("buildah", append(global, "rm", "-a")...).Run()
		_ = exec.Command("buildah", append(global, "rmi", "-a", "-f")...).Run()
	})
	cmd := exec.Command("buildah", append(global, "build", "--tls-verify=false", "--platform", "linux/amd64,linux/arm64", "--build-arg", base, "--manifest", "bh-app", ctx)...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("buildah build: %v\n%s", err, b)
	}
	if n := strings.Count(string(b), "RUN uname -m > /tools-arch"); n != 2 {
		t.Logf("buildah ran the tools stage %d times (1.28 runs it once per platform)", n)
	}
	pushed := reg + "/bh-app:1"
	if b, err := exec.Command("buildah", append(global, "manifest", "push", "--all", "--tls-verify=false", "bh-app", "docker://"+pushed)...).CombinedOutput(); err != nil {
		t.Fatalf("buildah manifest push: %v\n%s", err, b)
	}
	for _, c := range []struct{ arch, uname string }{{"amd64", "x86_64"}, {"arm64", "aarch64"}} {
		ociDir := filepath.Join(dir, "bh-oci-"+c.arch)
		testutil.Run(t, skopeo, "copy", "--src-tls-verify=false", "--override-arch", c.arch, "docker://"+pushed, "oci:"+ociDir+":app")
		bundle := filepath.Join(dir, "bh-bundle-"+c.arch)
		testutil.Run(t, umoci, "unpack", "--image", ociDir+":app", bundle)
		bhRoot, bldRoot := filepath.Join(bundle, "rootfs"), filepath.Join(dir, "bld", "linux_"+c.arch)
		// BuildKit runs a FROM --platform=$BUILDPLATFORM stage on the
		// build platform for every target, so /tools-arch is x86_64 in
		// both images; buildah 1.28 runs it on the target platform
		// (aarch64 in its arm64 image). bld follows BuildKit.
		if got := strings.TrimSpace(readFile(t, filepath.Join(bldRoot, "tools-arch"))); got != "x86_64" {
			t.Errorf("%s: /tools-arch %q, want x86_64 (the build platform, as BuildKit)", c.arch, got)
		}
		t.Logf("%s: buildah's /tools-arch: %s", c.arch, strings.TrimSpace(readFile(t, filepath.Join(bhRoot, "tools-arch"))))
		for _, f := range []string{"arch", "target"} {
			want, err1 := os.ReadFile(filepath.Join(bhRoot, f))
			got, err2 := os.ReadFile(filepath.Join(bldRoot, f))
			if err1 != nil || err2 != nil || string(got) != string(want) {
				t.Errorf("%s /%s: bld %q (%v), buildah %q (%v)", c.arch, f, got, err2, want, err1)
			}
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(bldRoot, "arch"))); got != c.uname {
			t.Errorf("%s: /arch %q, want %q", c.arch, got, c.uname)
		}
		for _, root := range []string{bhRoot, bldRoot} {
			f, err := elf.Open(filepath.Join(root, "bin", "busybox"))
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[c.arch]; f.Machine != want {
				t.Errorf("%s: %s/bin/busybox is %s, want %s", c.arch, root, f.Machine, want)
			}
			f.Close()
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// podmanPullPlatforms pulls each platform of the pushed index with podman
// (make test installs it), into a storage of the test's own (vfs, under a
// temporary directory), and checks the image podman stored.
func podmanPullPlatforms(t *testing.T, ref string) {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatalf("podman is not installed (make test installs it): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "storage.conf")
	body := fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", filepath.Join(dir, "run"), filepath.Join(dir, "graph"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"arm64", "amd64"} {
		pull := exec.Command(podman, "pull", "--tls-verify=false", "--platform", "linux/"+arch, ref)
		pull.Env = append(os.Environ(), "CONTAINERS_STORAGE_CONF="+conf)
		if out, err := pull.CombinedOutput(); err != nil {
			t.Fatalf("podman pull --platform linux/%s %s: %v\n%s", arch, ref, err, out)
		}
		insp := exec.Command(podman, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref)
		insp.Env = pull.Env
		out, err := insp.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "linux/"+arch {
			t.Errorf("podman pulled %q (%v) for --platform linux/%s", out, err, arch)
		}
	}
}
