// Package userns owns bld's rootless entry: when bld is started by a user
// other than root, Enter re-executes it in a new user namespace (and a
// mount namespace owned by it) where that user is root, so the rest of bld
// (snapshots, the sandbox) runs as it does under root, with the limits the
// kernel puts on a user namespace.
//
// With ranges for the user in /etc/subuid and /etc/subgid and Debian's
// newuidmap/newgidmap (package uidmap), the namespace maps root to the
// user and uids 1..n to the subordinate ranges, so chown, USER 1000 and
// package managers work. Without them only the user is mapped (to root):
// files owned by any other uid cannot be made, and Enter says so once on
// stderr. bld has no setuid helper of its own.
//
// Rootless reports, inside the namespace, that bld runs rootless, so that
// the state root defaults to $XDG_DATA_HOME/bld as for the user outside.
package userns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// env is set in the re-executed bld: "wait" while the parent writes the
// maps (the child then execs itself again, so that it starts as root of
// the namespace with all its capabilities), then "<uid>:<gid>:<mapped>"
// of the user outside, mapped being the number of ids mapped.
const env = "_BLD_USERNS"

// waitShell is the child that waits for the maps where /bin/sh exists: it
// reads a line from fd 3 (written once the maps are), then execs bld, which
// starts as root of the namespace with all its capabilities (an exec
// before the maps, by an unmapped uid, gets none). A shell starts in about
// a millisecond where bld's own start (Go runtime and package
// initialization) takes several: this is on the path of every rootless
// command. Without /bin/sh bld itself waits ("wait", finishWait).
const waitShell = `read -r _ <&3 || exit 2; exec 3<&-; exec "$0" "$@"`

// shell is the shell waitShell runs in.
const shell = "/bin/sh"

// Rootless reports whether this process is bld re-executed by Enter in a
// user namespace.
func Rootless() bool {
	v := os.Getenv(env)
	return v != "" && v != "wait"
}

// Info describes the namespace Enter made, as seen from inside it.
type Info struct {
	UID, GID int // the user outside
	// Mapped is how many uids are mapped: 1 without subordinate ranges.
	Mapped int
}

// Current returns the namespace bld runs in, and false when it is not
// rootless.
func Current() (Info, bool) {
	if !Rootless() {
		return Info{}, false
	}
	var in Info
	if _, err := fmt.Sscanf(os.Getenv(env), "%d:%d:%d", &in.UID, &in.GID, &in.Mapped); err != nil {
		return Info{}, false
	}
	return in, true
}

// Range is one line of /etc/subuid or /etc/subgid: Count ids from Start.
type Range struct{ Start, Count int }

// IDMap is one line of a uid_map or gid_map.
type IDMap struct{ Inside, Outside, Count int }

// ErrNoUserNS is returned (wrapped) by Enter when the kernel does not let
// the user make a user namespace (a seccomp'd container, a sysctl).
var ErrNoUserNS = errors.New("cannot create a user namespace")

// Enter re-executes bld in a user namespace when the effective user is not
// root, and exits with the re-executed bld's exit code: it returns only as
// root, in the namespace (nil), or with an error saying why no namespace
// could be made. It must be called early in main, after sandbox.Init.
func Enter() error {
	switch v := os.Getenv(env); {
	case v == "wait":
		return finishWait()
	case v != "":
		return nil
	}
	if os.Geteuid() == 0 {
		return nil
	}
	uid, gid := os.Getuid(), os.Getgid()
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	subuid, err := ReadRanges("/etc/subuid", name, uid)
	if err != nil {
		return err
	}
	subgid, err := ReadRanges("/etc/subgid", name, uid)
	if err != nil {
		return err
	}
	uidmap, errU := exec.LookPath("newuidmap")
	gidmap, errG := exec.LookPath("newgidmap")
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rootless: find the bld binary: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}
	if len(subuid) == 0 || len(subgid) == 0 || errU != nil || errG != nil {
		why := "no ranges for " + name + " in /etc/subuid and /etc/subgid"
		if len(subuid) > 0 && len(subgid) > 0 {
			why = "newuidmap/newgidmap not found (Debian package uidmap)"
		}
		fmt.Fprintf(os.Stderr, "bld: rootless with only your own uid mapped (%s): files owned by other users or groups cannot be made (chown, USER with another uid, most package managers fail)\n", why)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:1", env, uid, gid))
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
		return run(cmd, nil)
	}
	umaps, n := Maps(uid, subuid)
	gmaps, _ := Maps(gid, subgid)
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("rootless: %w", err)
	}
	cmd.ExtraFiles = []*os.File{r}
	id := fmt.Sprintf("%d:%d:%d", uid, gid, n)
	if fi, err := os.Stat(shell); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		cmd.Path = shell
		cmd.Args = append([]string{"sh", "-c", waitShell, exe}, os.Args[1:]...)
		cmd.Env = append(os.Environ(), env+"="+id)
	} else {
		cmd.Env = append(os.Environ(), env+"=wait", env+"_ID="+id)
	}
	return run(cmd, func(pid int) error {
		defer w.Close()
		r.Close()
		if err := newmaps(pid, []string{uidmap, gidmap}, [][]IDMap{umaps, gmaps}); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
}

// run starts cmd, calls started (when not nil) with its pid, waits for it
// and exits with its status. Signals that would stop the parent are
// forwarded instead.
func run(cmd *exec.Cmd, started func(pid int) error) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("%w: %v", ErrNoUserNS, err)
		}
		return fmt.Errorf("rootless: start bld in a user namespace: %w", err)
	}
	if started != nil {
		if err := started(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("rootless: map ids: %w", err)
		}
	}
	go func() {
		for s := range sigs {
			// An interactive Ctrl-C reaches the child through the
			// process group already; a kill names only this process.
			if s != unix.SIGINT {
				cmd.Process.Signal(s)
			}
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	if err == nil {
		os.Exit(0)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("rootless: %w", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ee.ExitCode())
	return nil
}

// finishWait runs in the first re-executed bld: it waits until the parent
// has written the maps, then execs bld again, now as root of the
// namespace (an exec by an unmapped uid drops every capability).
func finishWait() error {
	f := os.NewFile(3, "userns-sync")
	var b [1]byte
	n, _ := f.Read(b[:])
	f.Close()
	if n != 1 {
		os.Exit(2) // the parent failed and says why
	}
	id := os.Getenv(env + "_ID")
	os.Unsetenv(env + "_ID")
	os.Setenv(env, id)
	if err := unix.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("rootless: setgid in the user namespace: %w", err)
	}
	if err := unix.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("rootless: setuid in the user namespace: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rootless: find the bld binary: %w", err)
	}
	return fmt.Errorf("rootless: re-exec: %w", unix.Exec(exe, os.Args, os.Environ()))
}

// newmaps runs each tool (newuidmap, newgidmap) for pid with its maps, all
// at once: they write different files. It returns the first failure.
func newmaps(pid int, tools []string, maps [][]IDMap) error {
	cmds := make([]*exec.Cmd, len(tools))
	outs := make([]bytes.Buffer, len(tools))
	var first error
	for i, tool := range tools {
		args := []string{strconv.Itoa(pid)}
		for _, m := range maps[i] {
			args = append(args, strconv.Itoa(m.Inside), strconv.Itoa(m.Outside), strconv.Itoa(m.Count))
		}
		cmds[i] = exec.Command(tool, args...)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			first = fmt.Errorf("%s: %w", tool, err)
			cmds[i] = nil
			break
		}
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		if err := cmd.Wait(); err != nil && first == nil {
			first = fmt.Errorf("%s %s: %w: %s", tools[i], strings.Join(cmd.Args[1:], " "), err, strings.TrimSpace(outs[i].String()))
		}
	}
	return first
}

// Maps maps id to root and the ranges after it, from 1 on; it returns the
// lines of the map and how many ids they map.
func Maps(id int, ranges []Range) ([]IDMap, int) {
	maps := []IDMap{{0, id, 1}}
	next := 1
	for _, r := range ranges {
		maps = append(maps, IDMap{next, r.Start, r.Count})
		next += r.Count
	}
	return maps, next
}

// ReadRanges returns the ranges of the user (by name or uid) in a subuid
// or subgid file; a missing file has none.
func ReadRanges(path, name string, id int) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rootless: %w", err)
	}
	defer f.Close()
	return parseRanges(f, name, id)
}

func parseRanges(r io.Reader, name string, id int) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || start < 0 || count <= 0 {
			continue
		}
		out = append(out, Range{start, count})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rootless: read ranges: %w", err)
	}
	return out, nil
}

// GIDMapped reports whether gid has a mapping in the calling process's
// user namespace (always true outside a user namespace).
func GIDMapped(gid int) bool {
	data, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(data), "\n") {
		var in, out, n int
		if _, err := fmt.Sscanf(line, "%d %d %d", &in, &out, &n); err == nil && gid >= in && gid-in < n {
			return true
		}
	}
	return false
}

// SetgroupsDenied reports whether setgroups(2) is denied in the calling
// process's user namespace (a namespace with only the user's own gid
// mapped, where the supplementary groups stay the ones it started with).
func SetgroupsDenied() bool {
	data, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(data)) == "deny"
}
