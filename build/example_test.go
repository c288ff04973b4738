package build_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/state"
)

// rootDir and busybox are made by TestMain: an empty state root, and a
// busybox root filesystem (Debian's busybox-static) for `bld import`.
var rootDir, busybox string

func TestMain(m *testing.M) {
	// A RUN step re-executes this binary as the sandbox init (package
	// sandbox's stepinit serves it before TestMain).
	tmp, err := os.MkdirTemp("", "bld-build-test-")
	if err != nil {
		log.Fatal(err)
	}
	rootDir, busybox = filepath.Join(tmp, "root"), filepath.Join(tmp, "busybox")
	if out, err := exec.Command("../scripts/busybox-rootfs.sh", busybox).CombinedOutput(); err != nil {
		log.Fatalf("busybox rootfs: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// Build testdata/demo from Go: import a busybox base image, then build
// the two-stage demo into the local store. (RUN steps need root.)
func Example() {
	ctx := context.Background()
	root, err := state.Open(ctx, rootDir, state.Options{Snapshots: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := build.Import(ctx, root, busybox, nil, "busybox", nil); err != nil {
		log.Fatal(err)
	}
	res, err := build.Run(ctx, build.Options{
		Root:       root,
		ContextDir: "../testdata/demo",
		Tags:       []string{"demo:latest"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range res.Steps {
		fmt.Println(s.Name)
	}
	stored, err := root.Store.Resolve("demo:latest")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", stored.Digest == res.Digest)
	// Output:
	// [stage-1 2/4] COPY --from=build /src/greet.sh /usr/local/bin/greet
	// [stage-1 3/4] COPY --chmod=644 app/motd /etc/motd
	// [stage-1 4/4] WORKDIR /home/app
	// stored: true
}
