package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay. The kernel copies mount data into one
// page, so a long lowerdir list (a deep chain of layers under a long root)
// does not fit; then the directories are given relative to their common
// parent and the mount is made from a thread whose working directory is that
// parent.
func mountOverlay(source, target string, flags uintptr, data []string) error {
	joined := strings.Join(data, ",")
	if len(joined) < os.Getpagesize() {
		if err := unix.Mount(source, target, "overlay", flags, joined); err != nil {
			return &os.PathError{Op: "mount overlay", Path: target, Err: err}
		}
		return nil
	}
	dir, rel, err := relativeOverlayData(data)
	if err != nil {
		return fmt.Errorf("mount overlay %s: %w", target, err)
	}
	if len(rel) >= os.Getpagesize() {
		return fmt.Errorf("mount overlay %s: options are %d bytes even with relative paths, more than the kernel's limit of %d", target, len(rel), os.Getpagesize()-1)
	}
	errc := make(chan error, 1)
	go func() {
		// This thread gets its own working directory (CLONE_FS), so the
		// chdir cannot affect the rest of the process. It is never
		// unlocked: the runtime ends the thread when this goroutine
		// returns, and the changed working directory ends with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- os.NewSyscallError("unshare", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- &os.PathError{Op: "chdir", Path: dir, Err: err}
			return
		}
		if err := unix.Mount(source, target, "overlay", flags, rel); err != nil {
			errc <- &os.PathError{Op: "mount overlay", Path: target, Err: err}
			return
		}
		errc <- nil
	}()
	return <-errc
}

// relativeOverlayData rewrites the lowerdir, upperdir and workdir options to
// paths relative to their longest common parent directory, which it returns.
func relativeOverlayData(data []string) (string, string, error) {
	var paths []string
	for _, o := range data {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			paths = append(paths, strings.Split(v, ":")...)
		case "upperdir", "workdir":
			paths = append(paths, v)
		}
	}
	if len(paths) == 0 {
		return "", "", fmt.Errorf("no lowerdir option")
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return "", "", fmt.Errorf("overlay directory %q is not absolute", p)
		}
	}
	common := commonDir(paths)
	relOf := func(p string) (string, error) {
		r, err := filepath.Rel(common, p)
		if err != nil {
			return "", err
		}
		return r, nil
	}
	out := make([]string, 0, len(data))
	for _, o := range data {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			ls := strings.Split(v, ":")
			for i, l := range ls {
				r, err := relOf(l)
				if err != nil {
					return "", "", err
				}
				ls[i] = r
			}
			out = append(out, k+"="+strings.Join(ls, ":"))
		case "upperdir", "workdir":
			r, err := relOf(v)
			if err != nil {
				return "", "", err
			}
			out = append(out, k+"="+r)
		default:
			out = append(out, o)
		}
	}
	return common, strings.Join(out, ","), nil
}

// commonDir returns the longest directory that contains every one of the
// absolute paths.
func commonDir(paths []string) string {
	common := strings.Split(filepath.Clean(paths[0]), "/")
	// Each path's own last element is not a candidate: the common
	// directory must be a parent of every path.
	common = common[:len(common)-1]
	for _, p := range paths[1:] {
		parts := strings.Split(filepath.Clean(p), "/")
		parts = parts[:len(parts)-1]
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	dir := strings.Join(common, "/")
	if dir == "" {
		return "/"
	}
	return dir
}

// RelativeOverlay returns the overlay mount m with its lowerdir, upperdir
// and workdir relative to their longest common parent, and that parent.
// Mounted by a process whose working directory is dir, it is the same
// mount, and the mount table (the step's /proc/self/mountinfo) shows the
// short names only, not where the layers live on the host.
func RelativeOverlay(m Mount) (dir string, rel Mount, err error) {
	if m.Type != "overlay" {
		return "", m, fmt.Errorf("mount %s is not an overlay", m.Source)
	}
	_, _, data := parseOptions(m.Options)
	dir, joined, err := relativeOverlayData(data)
	if err != nil {
		return "", m, err
	}
	rel = m
	rel.Options = nil
	for _, o := range m.Options {
		if k, _, _ := strings.Cut(o, "="); k != "lowerdir" && k != "upperdir" && k != "workdir" {
			rel.Options = append(rel.Options, o)
		}
	}
	for _, o := range strings.Split(joined, ",") {
		if k, _, _ := strings.Cut(o, "="); k == "lowerdir" || k == "upperdir" || k == "workdir" {
			rel.Options = append(rel.Options, o)
		}
	}
	return dir, rel, nil
}
