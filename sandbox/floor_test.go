package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// BenchmarkFloor measures the floor of a trivial RUN step on this machine,
// in pure Go (no C): what any builder pays to start one process in new
// namespaces over an overlay root, step by step, next to what Run costs
// for the same `true`. The differences between rows say what each layer of
// isolation costs; Run's row minus the floor rows is bld's own overhead.
//
//	go test -run '^$' -bench Floor -benchtime 200x ./sandbox
func BenchmarkFloor(b *testing.B) {
	testutil.RequireRoot(b)
	root := filepath.Join(b.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	testutil.BusyboxRootfs(b, root)
	truePath := filepath.Join(root, "bin", "busybox")

	start := func(b *testing.B, attr *syscall.SysProcAttr) {
		for b.Loop() {
			cmd := exec.Command(truePath, "true")
			cmd.SysProcAttr = attr
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	}
	ns := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	b.Run("fork+exec", func(b *testing.B) { start(b, nil) })
	b.Run("+mnt,pid,uts,ipc ns", func(b *testing.B) {
		start(b, &syscall.SysProcAttr{Cloneflags: ns})
	})
	b.Run("+net ns", func(b *testing.B) {
		start(b, &syscall.SysProcAttr{Cloneflags: ns | unix.CLONE_NEWNET})
	})
	b.Run("+user ns", func(b *testing.B) {
		start(b, &syscall.SysProcAttr{
			Cloneflags:  ns | unix.CLONE_NEWNET | unix.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		})
	})

	// An overlay over the root with a fresh upper each time, as a RUN
	// step's, mounted and unmounted by the caller.
	scratch := b.TempDir()
	n := 0
	overlay := func() (dir string, mounts []mount.Mount) {
		n++
		dir = filepath.Join(scratch, fmt.Sprint(n))
		for _, d := range []string{"upper", "work", "merged"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		return dir, []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + root, "upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work"),
		}}}
	}
	b.Run("overlay mount+unmount", func(b *testing.B) {
		for b.Loop() {
			dir, m := overlay()
			target := filepath.Join(dir, "merged")
			if err := unix.Mount(m[0].Source, target, m[0].Type, 0, m[0].Options[0]+","+m[0].Options[1]+","+m[0].Options[2]); err != nil {
				b.Fatal(err)
			}
			if err := unix.Unmount(target, 0); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Run itself: the same true, over the same overlay, with its
	// cgroups, seccomp, /proc, /dev, pivot_root and network.
	for _, network := range []string{NetworkNone, NetworkDefault} {
		if network == NetworkDefault {
			if _, err := exec.LookPath(slirpProgram); err != nil {
				b.Logf("no %s: Run with the default network not measured", slirpProgram)
				continue
			}
		}
		b.Run("Run network="+network, func(b *testing.B) {
			for b.Loop() {
				_, m := overlay()
				err := Run(context.Background(), Spec{
					Args: []string{"/bin/true"}, Root: m, Network: network,
					ScratchDir: scratch, Stdout: os.Stdout, Stderr: os.Stderr,
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		if network == NetworkDefault {
			// As a build runs its steps: the network pooled.
			b.Run("Networks.Run network="+network, func(b *testing.B) {
				nets := &Networks{}
				defer nets.Close()
				for b.Loop() {
					_, m := overlay()
					err := nets.Run(context.Background(), Spec{
						Args: []string{"/bin/true"}, Root: m, Network: network,
						ScratchDir: scratch, Stdout: os.Stdout, Stderr: os.Stderr,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
