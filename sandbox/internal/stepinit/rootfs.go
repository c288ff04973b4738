package stepinit

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// rootfs is the step's root as the init builds it. It
// records the mount targets it had to create, so they can be removed after
// the step and never land in its layer.
//
// Every target is opened and created through descriptors, starting from fd
// (openat2 RESOLVE_IN_ROOT, mkdirat and mknodat on the parent's
// descriptor), and mounts are attached to the target's descriptor: a
// directory another step swaps for a symlink meanwhile (two steps share a
// cache mount) can redirect a mount only to somewhere inside this root,
// never onto the host.
type rootfs struct {
	dir string // where the root is mounted before pivot_root
	fd  int    // O_PATH descriptor of dir, once the root is mounted; -1 before
	// O_PATH descriptors of the /proc and /sys targets and of /dev/null,
	// for mountKernelFS.
	proc, sys, null int
	sock            int           // the socket to Run placeholders are handed over on, or -1
	created         []Placeholder // in creation order
	insecure        bool          // config.Insecure: /proc and /sys unmasked and writable, more of /dev
}

// Placeholder is a file or directory the sandbox created in the root. The
// init hands placeholders to Run, with their parents' descriptors, and Run
// removes them after the step.
type Placeholder struct {
	// Parent is the O_PATH descriptor of the directory it was made in
	// (in the init, then in Run, which receives it as SCM_RIGHTS); -1
	// when none came with it.
	Parent   int    `json:"-"`
	Name     string // its name there
	Path     string // inside the root, for messages
	Dir      bool
	Dev, Ino uint64 // to remove only what was created, even if renamed over
	// parent's times before and after the creation; the parent's times are
	// put back after removal when the step did not change it meanwhile.
	Before, After *[2]unix.Timespec
}

// mountRoot mounts the root mounts of cfg on r.dir and opens it.
func (r *rootfs) mountRoot(cfg *Config) error {
	root := make([]mount.Mount, len(cfg.Root))
	cwd := "/"
	for i, m := range cfg.Root {
		m.Target = ""
		if m.Type == "overlay" && len(cfg.Root) == 1 {
			// Layer directories relative to their common parent, the
			// working directory while mounting: the step's mountinfo
			// shows "lowerdir=ID/fs", not the state root.
			if dir, rel, err := mount.RelativeOverlay(m); err == nil {
				cwd, m = dir, rel
			}
		}
		root[i] = m
	}
	if err := unix.Chdir(cwd); err != nil {
		return &os.PathError{Op: "chdir", Path: cwd, Err: err}
	}
	err := mount.All(root, r.dir)
	unix.Chdir("/")
	if err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	fd, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: r.dir, Err: err}
	}
	r.fd = fd
	return nil
}

// mountAll mounts the root, /dev and the extra mounts, in the order runc
// does (extra mounts last, so they may cover /dev), and opens the targets
// of /proc and /sys, which mountKernelFS mounts.
func (r *rootfs) mountAll(cfg *Config) error {
	if err := r.mountRoot(cfg); err != nil {
		return err
	}
	var err error
	if r.proc, err = r.ensure("/proc", true); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if r.sys, err = r.ensure("/sys", true); err != nil {
		return fmt.Errorf("mount /sys: %w", err)
	}
	r.insecure = cfg.Insecure
	if err := r.mountDev(cfg.ShmSize); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, m := range cfg.Mounts {
		if err := r.mount(m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	return nil
}

// mount makes the extra mount m at its target in the root, creating the
// target when missing.
func (r *rootfs) mount(m mount.Mount) error {
	file := false
	if IsBind(m) {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		file = !fi.IsDir()
	}
	// The new mount is made before its target is opened: a bind of a
	// directory above the target must not see a half-made step.
	mfd, err := mount.Detached(m)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	target, err := r.ensure(m.Target, !file)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	return mount.Attach(mfd, target)
}

// ensure opens p inside the root (an O_PATH descriptor the caller closes),
// after creating its missing components: directories, and an empty file
// last unless dir. Symlinks are followed as if the root were "/".
//
// It walks one component at a time from the descriptor of the directory
// before it, never by a path from the host's root: symlinks are read and
// resolved here, and each step down is an openat2 that refuses symlinks
// (RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH), so a component swapped for a
// symlink meanwhile is read again rather than followed by the kernel.
func (r *rootfs) ensure(p string, dir bool) (int, error) {
	const maxSteps = 255 // symlinks followed and races retried
	cur, err := mount.OpenIn(r.fd, "/")
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		unix.Close(cur)
		return -1, err
	}
	curPath, rest := "/", p
	for steps := 0; ; steps++ {
		if steps > maxSteps {
			return fail(&os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP})
		}
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return cur, nil
		}
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		if part == "." {
			continue
		}
		if part == ".." {
			curPath = path.Dir(curPath)
			fd, err := mount.OpenIn(r.fd, curPath)
			if err != nil {
				return fail(err)
			}
			unix.Close(cur)
			cur = fd
			continue
		}
		next := path.Join(curPath, part)
		var st unix.Stat_t
		err := unix.Fstatat(cur, part, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.ENOENT:
			last := strings.Trim(rest, "/") == ""
			if err := r.create(cur, part, next, dir || !last); err != nil {
				return fail(err)
			}
			rest = part + "/" + rest // now open it
			continue
		case err != nil:
			return fail(&os.PathError{Op: "lstat", Path: next, Err: err})
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			target, err := readlinkat(cur, part)
			if err == unix.EINVAL || err == unix.ENOENT {
				rest = part + "/" + rest // no longer a symlink: look again
				continue
			}
			if err != nil {
				return fail(&os.PathError{Op: "readlink", Path: next, Err: err})
			}
			if path.IsAbs(target) {
				fd, err := mount.OpenIn(r.fd, "/")
				if err != nil {
					return fail(err)
				}
				unix.Close(cur)
				cur, curPath = fd, "/"
			}
			rest = target + "/" + rest
			continue
		}
		fd, err := unix.Openat2(cur, part, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_BENEATH,
		})
		switch {
		case err == unix.ELOOP || err == unix.ENOENT || err == unix.EAGAIN:
			rest = part + "/" + rest // changed since the lstat: look again
			continue
		case err != nil:
			return fail(&os.PathError{Op: "open", Path: next, Err: err})
		}
		unix.Close(cur)
		cur, curPath = fd, next
	}
}

// readlinkat reads the symlink name in the directory open at dir.
func readlinkat(dir int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// create makes name in the directory open at parent and records it.
// EEXIST (a racing step made it first) is not an error: the caller opens it.
func (r *rootfs) create(parent int, name, inRoot string, dir bool) error {
	ph := Placeholder{Name: name, Path: inRoot, Dir: dir, Before: fdTimes(parent)}
	var err error
	if dir {
		err = unix.Mkdirat(parent, name, 0o755)
	} else {
		err = unix.Mknodat(parent, name, unix.S_IFREG|0o644, 0)
	}
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: inRoot, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: inRoot, Err: err}
	}
	ph.Dev, ph.Ino = st.Dev, st.Ino
	ph.After = fdTimes(parent)
	if ph.Parent, err = unix.FcntlInt(uintptr(parent), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		return os.NewSyscallError("dup", err)
	}
	r.created = append(r.created, ph)
	if r.sock >= 0 {
		// To Run at once: if the init is killed now, Run still removes it.
		return r.handOver(r.sock)
	}
	return nil
}

// fdTimes returns the access and modification times of the file open at
// fd, or nil.
func fdTimes(fd int) *[2]unix.Timespec {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return nil
	}
	return &[2]unix.Timespec{st.Atim, st.Mtim}
}

// handOver sends the placeholders, with their parents' descriptors, to
// Run on sock, which removes them once the step is over (its mount
// namespace gone, and with it every mount on them).
func (r *rootfs) handOver(sock int) error {
	for len(r.created) > 0 {
		n := min(len(r.created), MaxFDs)
		batch := r.created[:n]
		b, err := json.Marshal(Message{Placeholders: batch})
		if err != nil {
			return err
		}
		fds := make([]int, n)
		for i, ph := range batch {
			fds[i] = ph.Parent
		}
		if err := unix.Sendmsg(sock, b, unix.UnixRights(fds...), nil, 0); err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		for _, ph := range batch {
			unix.Close(ph.Parent)
		}
		r.created = r.created[n:]
	}
	return nil
}

// Remove removes ph through its parent's descriptor, unless it is not the
// one created any more or the step put something in it.
func (ph Placeholder) Remove() error {
	var st unix.Stat_t
	if unix.Fstatat(ph.Parent, ph.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Dev != ph.Dev || st.Ino != ph.Ino {
		return nil
	}
	changed := ph.After == nil || !sameTimes(fdTimes(ph.Parent), ph.After)
	flags := 0
	if ph.Dir {
		flags = unix.AT_REMOVEDIR
	}
	switch err := unix.Unlinkat(ph.Parent, ph.Name, flags); {
	case err == unix.ENOTEMPTY || err == unix.EEXIST:
		return nil // the step wrote into it: it is the step's now
	case err == unix.EBUSY:
		return nil // in a shared directory, a mount point of another step
	case err != nil:
		return &os.PathError{Op: "remove", Path: ph.Path, Err: err}
	}
	if !changed && ph.Before != nil {
		// utimensat of "." from the O_PATH descriptor: the directory
		// itself, with no walk through /proc/self/fd.
		unix.UtimesNanoAt(ph.Parent, ".", ph.Before[:], 0)
	}
	return nil
}

func sameTimes(a, b *[2]unix.Timespec) bool {
	return a != nil && b != nil && a[1] == b[1]
}

// pivotRoot makes the directory open at dir the root of the mount
// namespace and lets go of the old one.
func pivotRoot(dir int) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	if err := unix.Fchdir(dir); err != nil {
		return &os.PathError{Op: "fchdir", Path: "root", Err: err}
	}
	// pivot_root(".", ".") stacks the old root on top of the new one, so
	// no directory for it is needed in the new root (that would show in
	// the layer).
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: "root", Err: err}
	}
	// Back in the old root, make it a slave so that the unmount below
	// cannot propagate anywhere, then detach it, uncovering the new root.
	if err := unix.Fchdir(oldRoot); err != nil {
		return &os.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make rslave", Path: "old root", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount", Path: "old root", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}
