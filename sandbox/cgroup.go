package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/userns"
)

// cgroup is a step's control group: one directory in each cgroup hierarchy
// holding a controller the step uses (on a v2 host, one directory). With
// no directories the step runs without a cgroup of its own.
//
// On v1 (and hybrid) hosts the directories are children of the caller's own
// cgroups, so limits on bld also bound its steps. On v2 they live under
// /bld at the root: a v2 cgroup that has processes, like the caller's, may
// not hand controllers down to children.
type cgroup struct {
	dirs   []string    // the step's cgroup directories
	homes  []string    // the caller's own cgroup directories, same order
	memory string      // the directory with the memory controller, or ""
	v2     bool        // memory is on cgroup v2
	limit  int64       // the memory limit, for messages
	detach []io.Closer // the device programs attached to dirs
	v2dir  string      // the step's directory on the v2 hierarchy, or ""
	// limited: a limit is written into the step's cgroups, so the init
	// joins only once it is done with its own threads and memory.
	limited bool
}

// RootlessLimitsError is a step with --memory, --cpus or --pids-limit run
// by bld without root, where no cgroup is delegated to the user: the
// limits cannot be set, and bld says so rather than run without them.
type RootlessLimitsError struct{ Err error }

func (e *RootlessLimitsError) Error() string {
	return fmt.Sprintf("--memory, --cpus and --pids-limit need a cgroup delegated to your user when bld runs without root (cgroup v1 memory, pids and cpu directories of yours; a cgroup v2 subtree delegated by systemd is not used yet); none is writable here (%v)", e.Err)
}

func (e *RootlessLimitsError) Unwrap() error { return e.Err }

// CheckLimits fails when a step with limits l could not get them: it makes
// a cgroup with them and removes it. A build calls it before any step runs.
func CheckLimits(l Limits) error {
	if l == (Limits{}) {
		return nil
	}
	cg, err := newCgroup(l, false)
	if err != nil {
		return err
	}
	return cg.remove()
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mountpoint  string
	root        string // the hierarchy's path mounted at mountpoint
	v2          bool
	controllers []string
}

// newCgroup creates a step's cgroup, writes limits l into it and applies
// Docker's default device rules (setDevices). Without limits, a cgroup
// that cannot be made (no cgroupfs, read-only) is not an error: the step
// then runs in the caller's cgroup; failing device rules always are. The
// memory and pids controllers are always used when present, to detect OOM
// kills.
func newCgroup(l Limits, restrictDevices bool) (cg *cgroup, err error) {
	limited := l != Limits{}
	devices := false // past the limits: an error is in the device rules
	cg = &cgroup{limit: l.Memory, limited: limited}
	defer func() {
		if err == nil {
			return
		}
		cg.remove()
		if !limited && !devices {
			cg, err = &cgroup{}, nil
			return
		}
		if limited && !devices && userns.Rootless() && (errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS)) {
			err = &RootlessLimitsError{Err: err}
		}
	}()
	hs, own, err := hostCgroups()
	if err != nil {
		return cg, err
	}
	name := fmt.Sprintf("bld-%d-%s", os.Getpid(), randomHex(4))
	made := map[string]string{} // mountpoint → step directory
	dirs := map[string]string{} // controller → step directory
	for _, c := range []string{"memory", "pids", "cpu"} {
		if c == "cpu" && l.CPUs == 0 {
			continue
		}
		h := findHierarchy(hs, c)
		if h == nil {
			if (c == "memory" && l.Memory > 0) || (c == "pids" && l.Pids > 0) || c == "cpu" {
				return cg, fmt.Errorf("no %s controller", c)
			}
			continue
		}
		dir, ok := made[h.mountpoint]
		if !ok {
			if dir, err = cg.create(h, c, own, name); err != nil {
				return cg, err
			}
			made[h.mountpoint] = dir
		}
		dirs[c] = dir
		if c == "memory" {
			cg.memory, cg.v2 = dir, h.v2
		}
	}
	if err := cg.setLimits(l, dirs); err != nil {
		return cg, err
	}
	if !restrictDevices {
		return cg, nil // insecure mode: the host's devices cgroup, all allowed
	}
	devices = true
	if err := cg.setDevices(hs, own, name, made); err != nil {
		return cg, fmt.Errorf("devices: %w", err)
	}
	return cg, nil
}

// create makes the step's directory in hierarchy h, found for controller c.
func (cg *cgroup) create(h *hierarchy, c string, own map[string]string, name string) (string, error) {
	key := c
	if h.v2 {
		key = ""
	}
	cur, ok := own[key]
	if !ok {
		return "", fmt.Errorf("own %s cgroup not in /proc/self/cgroup", c)
	}
	home := hierarchyPath(h, cur)
	parent := home
	if h.v2 {
		parent = filepath.Join(h.mountpoint, "bld")
		if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
		var enable []string
		for _, ctl := range []string{"memory", "pids", "cpu"} {
			if slices.Contains(h.controllers, ctl) {
				enable = append(enable, "+"+ctl)
			}
		}
		for _, d := range []string{h.mountpoint, parent} {
			if len(enable) == 0 {
				break // a hybrid host's v2 hierarchy, for the device program
			}
			if err := writeFile(d, "cgroup.subtree_control", strings.Join(enable, " ")); err != nil {
				return "", err
			}
		}
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if h.v2 {
		cg.v2dir = dir
	}
	cg.dirs = append(cg.dirs, dir)
	cg.homes = append(cg.homes, home)
	return dir, nil
}

// setLimits writes l into the step's directories, by controller.
func (cg *cgroup) setLimits(l Limits, dirs map[string]string) error {
	if dir := dirs["memory"]; l.Memory > 0 {
		v := strconv.FormatInt(l.Memory, 10)
		// No swap on top of the limit: swapping would hide the OOM.
		files := [][2]string{{"memory.limit_in_bytes", v}, {"memory.memsw.limit_in_bytes", v}}
		if cg.v2 {
			files = [][2]string{{"memory.max", v}, {"memory.swap.max", "0"}}
		}
		for i, f := range files {
			if i > 0 && !exists(filepath.Join(dir, f[0])) {
				continue // no swap accounting on this host
			}
			if err := writeFile(dir, f[0], f[1]); err != nil {
				return err
			}
		}
	}
	if dir := dirs["pids"]; l.Pids > 0 {
		if err := writeFile(dir, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	if dir := dirs["cpu"]; l.CPUs > 0 {
		const period = 100000
		quota := max(int64(math.Ceil(l.CPUs*period)), 1000)
		if exists(filepath.Join(dir, "cpu.max")) {
			return writeFile(dir, "cpu.max", fmt.Sprintf("%d %d", quota, period))
		}
		if err := writeFile(dir, "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
			return err
		}
		return writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	return nil
}

// joinFiles returns the files the init writes "0" to, to move into the
// step's cgroups: on v1, the tasks file, which moves the writing thread
// alone (the one that execve's) and so skips the kernel's global
// threadgroup lock, whose write side waits for an RCU grace period (7-14
// ms a step on this machine, against 0.1 ms); on v2, cgroup.procs, unless
// cloneInto places the init there already.
func (cg *cgroup) joinFiles(cloneInto bool) []string {
	var files []string
	for _, d := range cg.dirs {
		switch {
		case d != cg.v2dir:
			files = append(files, filepath.Join(d, "tasks"))
		case !cloneInto:
			files = append(files, filepath.Join(d, "cgroup.procs"))
		}
	}
	return files
}

// cloneInto opens the step's v2 cgroup for CLONE_INTO_CGROUP, which
// starts the init there without a migration (and its lock). It returns
// nil when there is none, or when limits are set: the init's Go runtime
// (a few threads, a few MiB) must not count against them, so it joins
// only before execve.
func (cg *cgroup) cloneInto() *os.File {
	if cg.v2dir == "" || cg.limited {
		return nil
	}
	f, err := os.OpenFile(cg.v2dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return f
}

// oomKilled reports whether the OOM killer killed a process of the step.
func (cg *cgroup) oomKilled() bool {
	if cg.memory == "" {
		return false
	}
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(cg.memory, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n > 0
		}
	}
	return false
}

// remove removes the step's cgroups. They must be empty; the kernel may
// take a moment to notice the last process has gone.
func (cg *cgroup) remove() error {
	var errs []error
	for _, l := range cg.detach {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach device program: %w", err))
		}
	}
	cg.detach = nil
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 100; try++ {
			if err = unix.Rmdir(cg.dirs[i]); err != unix.EBUSY {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: cg.dirs[i], Err: err})
		}
	}
	cg.dirs, cg.homes = nil, nil
	return errors.Join(errs...)
}

// hostCgroups returns the mounted hierarchies and bld's own cgroups, read
// once per process: a step's cgroup needs both, and they change only when
// cgroupfs is remounted or bld moved to another cgroup, which a build does
// not do (reading and parsing mountinfo and /proc/self/cgroup for every
// step cost ~60 µs and 20 KB of garbage). A failure is not kept: the next
// step reads again. The results are shared: callers must not change them.
func hostCgroups() ([]hierarchy, map[string]string, error) {
	hostCgroupsMu.Lock()
	defer hostCgroupsMu.Unlock()
	if hostCgroupsHs == nil {
		hs, err := hierarchies()
		if err != nil {
			return nil, nil, err
		}
		own, err := ownCgroups()
		if err != nil {
			return nil, nil, err
		}
		if hs == nil {
			hs = []hierarchy{} // none mounted: known, not to be read again
		}
		hostCgroupsHs, hostCgroupsOwn = hs, own
	}
	return hostCgroupsHs, hostCgroupsOwn, nil
}

var (
	hostCgroupsMu  sync.Mutex
	hostCgroupsHs  []hierarchy
	hostCgroupsOwn map[string]string
)

// hierarchies lists the mounted cgroup hierarchies, from mountinfo.
func hierarchies() ([]hierarchy, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseHierarchies(string(b), func(mountpoint string) ([]string, error) {
		c, err := os.ReadFile(filepath.Join(mountpoint, "cgroup.controllers"))
		return strings.Fields(string(c)), err
	}), nil
}

// parseHierarchies finds the cgroup mounts in mountinfo; controllers reads
// the controllers of a v2 hierarchy.
func parseHierarchies(mountinfo string, controllers func(mountpoint string) ([]string, error)) []hierarchy {
	var hs []hierarchy
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		h := hierarchy{root: mount.Unescape(fields[3]), mountpoint: mount.Unescape(fields[4])}
		switch tail[0] {
		case "cgroup":
			h.controllers = strings.Split(tail[2], ",")
		case "cgroup2":
			h.v2 = true
			c, err := controllers(h.mountpoint)
			if err != nil {
				continue
			}
			h.controllers = c
		default:
			continue
		}
		hs = append(hs, h)
	}
	return hs
}

// findHierarchy returns the hierarchy with controller c, on v2 if it is
// there; a mount of the whole hierarchy is preferred to a bind of part.
func findHierarchy(hs []hierarchy, c string) *hierarchy {
	var found *hierarchy
	for _, v2 := range []bool{true, false} {
		for i := range hs {
			h := &hs[i]
			if h.v2 != v2 || !slices.Contains(h.controllers, c) {
				continue
			}
			if found == nil || (found.root != "/" && h.root == "/") {
				found = h
			}
		}
		if found != nil {
			return found
		}
	}
	return nil
}

// ownCgroups maps each v1 controller, and "" for v2, to the caller's
// cgroup path, from /proc/self/cgroup.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, nil
}

// hierarchyPath returns the directory of cgroup path p under h's mount.
func hierarchyPath(h *hierarchy, p string) string {
	if h.root != "/" {
		p = strings.TrimPrefix(p, h.root)
	}
	return filepath.Join(h.mountpoint, p)
}

func writeFile(dir, name, value string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(value), 0)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
