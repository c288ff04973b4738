package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/binfmt"
	"github.com/bldbuild/bld/internal/testutil"
)

// TestMultiPlatformGoCrossCompile builds a Go program for linux/amd64 and
// linux/arm64 in one build, as a Go project's Dockerfile does: a
// FROM --platform=$BUILDPLATFORM stage gets the Go toolchain (this
// machine's, trimmed, in the context) once for both platforms and
// cross-compiles natively with GOARCH=$TARGETARCH; the final stage of each
// platform runs the binary (arm64 under QEMU). Needs root (RUN, binfmt_misc:
// the test removes the handler it registers).
func TestMultiPlatformGoCrossCompile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (namespaces, binfmt_misc); CI runs as root")
	}
	if runtime.GOARCH != "amd64" {
		t.Fatalf("written for an amd64 host, this is %s", runtime.GOARCH)
	}
	registered := keepBinfmtState(t)
	if !registered {
		if err := binfmt.Install("arm64"); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	r := bldRunner{t: t, bin: testutil.Bld(t), env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))}
	for _, arch := range []string{"amd64", "arm64"} {
		rootfs := filepath.Join(dir, "busybox-"+arch)
		if arch == "amd64" {
			testutil.BusyboxRootfs(t, rootfs)
		} else {
			testutil.ForeignBusyboxRootfs(t, rootfs, arch)
		}
		r.must("import", "--platform", "linux/"+arch, rootfs, "busybox-"+arch)
	}

	ctx := filepath.Join(dir, "ctx")
	goroot := strings.TrimSpace(string(testutil.Run(t, "go", "env", "GOROOT")))
	// The toolchain, hard-linked where the file system allows, without
	// what a build of one program does not read.
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("cp", "-al", goroot, filepath.Join(ctx, "go")).Run(); err != nil {
		os.RemoveAll(filepath.Join(ctx, "go"))
		testutil.Run(t, "cp", "-a", goroot, filepath.Join(ctx, "go")) // another file system
	}
	for _, d := range []string{"test", "api", "doc", "misc", "lib", "src/cmd", "pkg/tool/linux_amd64/vet", "pkg/tool/linux_amd64/cgo"} {
		os.RemoveAll(filepath.Join(ctx, "go", d))
	}
	testutil.Run(t, "find", filepath.Join(ctx, "go"), "(", "-name", "*_test.go", "-o", "-name", "testdata", ")", "-prune", "-exec", "rm", "-rf", "{}", "+")
	files := map[string]string{
		"hello.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nfunc main() { fmt.Println(\"hello from\", runtime.GOARCH) }\n",
		"Dockerfile": `ARG BUILDARCH TARGETARCH
FROM --platform=$BUILDPLATFORM busybox-${BUILDARCH} AS build
COPY go/ /usr/local/go/
COPY hello.go /src/
ARG TARGETOS TARGETARCH
RUN cd /src && GOROOT=/usr/local/go GOCACHE=/tmp/gocache CGO_ENABLED=0 GO111MODULE=off GOOS=$TARGETOS GOARCH=$TARGETARCH /usr/local/go/bin/go build -o /out/hello hello.go

FROM busybox-${TARGETARCH}
COPY --from=build /out/hello /usr/local/bin/hello
RUN hello > /hello.txt
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	log := r.must("build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--output", "type=local,dest="+out, ctx)
	if n := strings.Count(log, "COPY go/ /usr/local/go/\n"); n != 1 {
		t.Errorf("the toolchain COPY of the shared build stage is listed %d times, want once:\n%s", n, log)
	}
	for _, c := range []struct {
		arch    string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}} {
		pd := filepath.Join(out, "linux_"+c.arch)
		got, err := os.ReadFile(filepath.Join(pd, "hello.txt"))
		if err != nil || strings.TrimSpace(string(got)) != "hello from "+c.arch {
			t.Errorf("linux/%s: the binary printed %q (%v), want hello from %s", c.arch, got, err, c.arch)
		}
		f, err := elf.Open(filepath.Join(pd, "usr/local/bin/hello"))
		if err != nil {
			t.Errorf("linux/%s: %v", c.arch, err)
			continue
		}
		if f.Machine != c.machine {
			t.Errorf("linux/%s: the binary is for %s, want %s", c.arch, f.Machine, c.machine)
		}
		f.Close()
	}
	if _, err := exec.LookPath("file"); err == nil {
		t.Logf("%s", testutil.Run(t, "file", filepath.Join(out, "linux_arm64/usr/local/bin/hello")))
	}
}

// keepBinfmtState takes the host-wide binfmt lock for the test and reports
// whether an arm64 emulator is registered already; at the end it removes
// the arm64 handler if there was none, and unmounts binfmt_misc if it was
// not mounted.
func keepBinfmtState(t *testing.T) (registered bool) {
	t.Helper()
	testutil.LockBinfmt(t) // other packages' tests register handlers too
	mountedBefore := binfmt.Mounted()
	registered = binfmt.Check(specs.Platform{OS: "linux", Architecture: "arm64"}) == nil
	t.Cleanup(func() {
		if !registered {
			if err := binfmt.Uninstall("arm64"); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if !mountedBefore && binfmt.Mounted() {
			if err := unix.Unmount(binfmt.Dir, 0); err != nil {
				t.Errorf("cleanup: unmount binfmt_misc: %v", err)
			}
		}
	})
	return registered
}
