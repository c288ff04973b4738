package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// stepCgroup matches the name newCgroup gives a step's cgroup:
// bld-<pid of bld>-<hex>.
var stepCgroup = regexp.MustCompile(`^bld-([0-9]+)-[0-9a-f]+$`)

// stateDir matches Run's scratch directory (see Spec.ScratchDir).
var stateDir = regexp.MustCompile(`^bld-sandbox-[0-9]+$`)

// Recover undoes what steps of dead bld processes left behind (a kill -9
// gives Run no chance to clean up): in every cgroup hierarchy, v1 and v2,
// the step cgroups (bld-<pid>-<hex>) whose bld process is gone are emptied
// (anything still in them is killed) and removed, children first. Then the
// network-namespace files of Run's scratch directories (bld-sandbox-<n>,
// under Spec.ScratchDir or os.TempDir()) that no process is in any more
// are unmounted and removed. The scratch directories themselves are the
// state package's to recover (state.Open), as Spec.ScratchDir is under the
// state root's tmp/.
//
// It needs root to do anything; what it cannot undo it reports, and the
// next call tries again. Hand-written: no library knows bld's names.
func Recover(ctx context.Context) error {
	var errs []error
	if err := recoverCgroups(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := recoverNetNS(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// recoverCgroups finds the step cgroups of dead pids in every hierarchy.
func recoverCgroups(ctx context.Context) error {
	hs, err := hierarchies()
	if err != nil {
		return fmt.Errorf("recover cgroups: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, h := range hs {
		if seen[h.mountpoint] {
			continue
		}
		seen[h.mountpoint] = true
		err := filepath.WalkDir(h.mountpoint, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || p != h.mountpoint && errors.Is(err, fs.ErrPermission) {
					return nil // went away meanwhile, or not ours to look at
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			m := stepCgroup.FindStringSubmatch(d.Name())
			if m == nil {
				return nil
			}
			pid, _ := strconv.Atoi(m[1])
			if alive(pid) {
				return fs.SkipDir
			}
			if err := removeCgroupTree(ctx, p); err != nil {
				errs = append(errs, err)
			}
			return fs.SkipDir
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("recover cgroups in %s: %w", h.mountpoint, err))
		}
	}
	return errors.Join(errs...)
}

// alive reports whether process pid exists (in bld's pid namespace). A pid
// reused by another process counts as alive: the cgroup is then left for a
// later recovery rather than killed wrongly.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// removeCgroupTree kills every process in cgroup dir and its descendants
// and removes the directories, children first.
func removeCgroupTree(ctx context.Context, dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover cgroup %s: %w", dir, err)
	}
	// Deepest first: a cgroup with children cannot be removed.
	slices.SortStableFunc(dirs, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		// On v2, cgroup.kill kills the whole subtree at once; elsewhere
		// each process listed in cgroup.procs is killed.
		_ = writeFile(dir, "cgroup.kill", "1")
		n := 0
		for _, d := range dirs {
			for _, pid := range cgroupPids(d) {
				n++
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("recover cgroup %s: %d processes survive SIGKILL", dir, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	var errs []error
	for _, d := range dirs {
		var err error
		for try := 0; try < 100; try++ {
			// The kernel may take a moment to notice the last exit.
			if err = unix.Rmdir(d); err != unix.EBUSY {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: d, Err: err})
		}
	}
	return errors.Join(errs...)
}

// cgroupPids reads the pids in a cgroup's cgroup.procs.
func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// recoverNetNS unmounts and removes the network-namespace files of dead
// steps: a bind mount named netns in a bld-sandbox-<n> directory, anywhere,
// whose namespace no process is in any more and which is over a minute old
// (a live step has slirp4netns in it within moments of making it). The
// directories themselves are left: under a state root they are the state
// package's, and in os.TempDir() they may hold a root still mounted.
func recoverNetNS(ctx context.Context) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("recover network namespaces: %w", err)
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := mount.Unescape(fields[4])
		if filepath.Base(p) == "netns" && stateDir.MatchString(filepath.Base(filepath.Dir(p))) && !slices.Contains(files, p) {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil
	}
	used := namespacesInUse()
	var errs []error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Stat(f, &st); err != nil {
			continue
		}
		if used[[2]uint64{st.Dev, st.Ino}] || time.Since(time.Unix(st.Ctim.Unix())) < time.Minute {
			continue
		}
		if err := unix.Unmount(f, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "unmount", Path: f, Err: err})
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// namespacesInUse returns the (device, inode) of every process's network
// namespace.
func namespacesInUse() map[[2]uint64]bool {
	used := map[[2]uint64]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) == nil {
			used[[2]uint64{st.Dev, st.Ino}] = true
		}
	}
	return used
}
