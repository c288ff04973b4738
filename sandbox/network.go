package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/userns"
	"github.com/bldbuild/bld/sandbox/internal/stepinit"
)

// Network modes of a Spec.
const (
	// NetworkDefault (or "") gives the step its own network namespace with
	// outbound connectivity through a user-mode network stack
	// (slirp4netns): it sees one tap interface and lo, not the host's
	// interfaces, and cannot reach services on the host's loopback.
	NetworkDefault = "default"
	// NetworkHost shares the host's network namespace.
	NetworkHost = "host"
	// NetworkNone gives the step a network namespace with only lo, up.
	NetworkNone = "none"
)

// slirp4netns's settings. --configure gives the namespace 10.0.2.100/24
// via 10.0.2.2, the host side, whose loopback --disable-host-loopback hides.
const (
	slirpDNS     = "10.0.2.3"    // slirp4netns's DNS forwarder
	slirpMTU     = "65520"       // the largest tap MTU: fewer, bigger frames
	slirpTap     = "tap0"        // the interface in the namespace
	slirpProgram = "slirp4netns" // Debian package slirp4netns
)

// slirpReadyTimeout bounds how long a step waits for its network.
const slirpReadyTimeout = 10 * time.Second

// userNet is a step's network in the default mode: the init's new network
// namespace, served by a slirp4netns process started on the init's PID
// before the init gets its config. Hand-written: no Go library starts
// slirp4netns for one process (rootlesskit's does it for a whole rootless
// daemon). Nothing is mounted for it, so a killed bld leaves nothing: the
// namespace dies with the step, slirp4netns with its --exit-fd pipe. For a
// rootless bld, slirp4netns needs no privilege outside bld's user
// namespace (--userns-path of the init's).
type userNet struct {
	cmd   *exec.Cmd // slirp4netns
	ready *os.File  // read end of slirp4netns's --ready-fd
	exit  *os.File  // write end of its --exit-fd: closing it stops slirp4netns
	log   *bytes.Buffer
	done  chan struct{} // closed when cmd has been waited for

	closeOnce sync.Once
}

// startUserNet starts slirp4netns on the network namespace of process
// pid. It does not wait for the network: wait does. The caller must call
// close on a non-nil result, whatever happens.
func startUserNet(pid int) (*userNet, error) {
	if err := persistentTapIn(pid); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	return startSlirp(strconv.Itoa(pid), nil)
}

// startUserNetNS is startUserNet for the network namespace ns (newNetNS:
// its tap is made already), which no process need be in: slirp4netns
// gets the descriptor as its fd 5 and the namespace as a path.
func startUserNetNS(ns *os.File) (*userNet, error) {
	return startSlirp("/proc/self/fd/5", ns)
}

// startSlirp starts slirp4netns on target: a PID, or with ns, the path of
// ns as slirp4netns sees it.
func startSlirp(target string, ns *os.File) (n *userNet, err error) {
	prog, err := exec.LookPath(slirpProgram)
	if err != nil {
		return nil, fmt.Errorf("default network needs %s (Debian package slirp4netns), or RUN --network=none: %w", slirpProgram, err)
	}
	n = &userNet{log: new(bytes.Buffer)}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.close())
		}
	}()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return n, err
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return n, err
	}
	n.ready, n.exit = readyR, exitW
	n.cmd = &exec.Cmd{
		Path: prog,
		Args: []string{slirpProgram,
			"--configure", "--mtu=" + slirpMTU, "--disable-host-loopback",
			// A chroot of its own and a seccomp filter: slirp4netns
			// parses the step's packets.
			"--enable-sandbox", "--enable-seccomp",
			"--ready-fd=3", "--exit-fd=4",
			target, slirpTap},
		Stdout:     n.log,
		Stderr:     n.log,
		ExtraFiles: []*os.File{readyW, exitR},
		// If bld dies, the --exit-fd pipe closes and slirp4netns exits;
		// the death signal is a second guard. Its own process group: a
		// ^C on the terminal reaches bld, which stops it after the step.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true},
	}
	if ns != nil {
		n.cmd.Args = slices.Insert(n.cmd.Args, len(n.cmd.Args)-2, "--netns-type=path")
		n.cmd.ExtraFiles = append(n.cmd.ExtraFiles, ns)
	}
	err = start(n.cmd)
	readyW.Close()
	exitR.Close()
	if err != nil {
		n.cmd = nil
		return n, fmt.Errorf("start %s: %w", slirpProgram, err)
	}
	n.done = make(chan struct{})
	go func() {
		n.cmd.Wait()
		close(n.done)
	}()
	return n, nil
}

// wait waits until slirp4netns has configured the namespace.
func (n *userNet) wait(ctx context.Context) error {
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := n.ready.Read(b)
		got <- err
	}()
	t := time.NewTimer(slirpReadyTimeout)
	defer t.Stop()
	select {
	case err := <-got:
		if err != nil {
			// EOF: slirp4netns exited without being ready.
			<-n.done
			return fmt.Errorf("%s: %s", slirpProgram, n.failure())
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s: not ready after %s", slirpProgram, slirpReadyTimeout)
	}
}

// failure describes how slirp4netns ended, with its output.
func (n *userNet) failure() string {
	msg := strings.TrimSpace(n.log.String())
	if n.cmd.ProcessState != nil {
		msg = strings.TrimSpace(n.cmd.ProcessState.String() + ": " + msg)
	}
	return msg
}

// close stops slirp4netns. After close, nothing of the network is left:
// no process (the namespace ends with the step).
//
// It may run while wait still waits (the step ended before its network
// came up): it leaves n.cmd as it is for wait's failure, which reads it
// once the process has been waited for.
func (n *userNet) close() error {
	n.closeOnce.Do(func() {
		if n.cmd == nil || n.done == nil { // never started: only the pipes
			for _, f := range []*os.File{n.ready, n.exit} {
				if f != nil {
					f.Close()
				}
			}
			return
		}
		n.exit.Close() // slirp4netns exits when the pipe closes
		t := time.NewTimer(2 * time.Second)
		select {
		case <-n.done:
		case <-t.C:
			n.cmd.Process.Kill()
			<-n.done
		}
		t.Stop()
		n.ready.Close()
	})
	return nil
}

// persistentTapIn makes the tap device slirp4netns attaches to in the
// network namespace of process pid, persistent, so that it goes with the
// namespace rather than on slirp4netns's exit path (which then takes about
// 1 ms instead of 22).
func persistentTapIn(pid int) error {
	return inNetNS(func() error { return joinNetNS(fmt.Sprintf("/proc/%d/ns/net", pid)) },
		func() error { return persistentTap(slirpTap) })
}

// newNetNS makes a network namespace with lo up and slirp4netns's tap
// device (persistent) in it, held by the descriptor returned alone: no
// process is in it until a step's init joins it, and it ends once that
// descriptor is closed and no process is left in it (with bld, whatever
// kills bld).
func newNetNS() (f *os.File, err error) {
	err = inNetNS(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return noNamespaces(os.NewSyscallError("unshare network namespace", err))
		}
		return nil
	}, func() error {
		if f, err = os.Open("/proc/thread-self/ns/net"); err != nil {
			return err
		}
		if err = stepinit.LoopbackUp(); err == nil {
			err = persistentTap(slirpTap)
		}
		if err != nil {
			f.Close()
			f = nil
		}
		return err
	})
	return f, err
}

// inNetNS runs fn on a locked thread of its own that enter has moved into
// another network namespace (joined one, or unshared a new one), then
// moves the thread back. A thread that cannot go back is never unlocked,
// so Go ends it with the goroutine: a rootless bld cannot go back (its
// network namespace is owned by the host's user namespace), which is no
// error.
func inNetNS(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- os.NewSyscallError("open /proc/thread-self/ns/net", err)
			return
		}
		defer unix.Close(orig)
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// joinNetNS moves the calling thread into the network namespace at path.
// The init calls it before it starts the command, which inherits it.
func joinNetNS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("setns net", err)
	}
	return nil
}

// resolvConf returns the resolv.conf of a step in network mode from the
// host's. In the default mode the step cannot reach the host's loopback
// nameservers (systemd-resolved's 127.0.0.53, a local dnsmasq): they are
// left out, as Docker does, and when none is left, slirp4netns's DNS
// forwarder (which asks the host's resolver) is named instead. Otherwise
// the host's file is used as it is.
func resolvConf(network string, host []byte) []byte {
	if !isUserNet(network) {
		return host
	}
	var out bytes.Buffer
	servers, loopback := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			servers++
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				loopback++
				continue
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if servers > 0 && loopback == 0 {
		return host
	}
	if loopback < servers {
		return out.Bytes() // the host's other nameservers
	}
	// No nameserver (glibc then asks 127.0.0.1), or only loopback ones.
	return append(out.Bytes(), "nameserver "+slirpDNS+"\n"...)
}

// isUserNet reports whether network is the default mode.
func isUserNet(network string) bool {
	return network == "" || network == NetworkDefault
}

// persistentTap creates the tap device name in the calling thread's network
// namespace, persistent, for slirp4netns to attach to. A tap slirp4netns
// made itself would be unregistered when it exits, which takes the kernel
// ~20 ms (synchronize_net) on the step's path; a persistent one goes with
// the namespace, which the kernel tears down in the background.
func persistentTap(name string) error {
	// No fork may happen while the tun descriptor is open: a child forked
	// meanwhile (another step's init or slirp4netns) would hold a copy
	// until its exec, keeping the tap attached, and slirp4netns's
	// TUNSETIFF would then fail with EBUSY. syscall.ForkLock is what Go's
	// own fork takes.
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) && userns.Rootless() {
		return fmt.Errorf("rootless default network: /dev/net/tun is not readable and writable by you (the kernel's mode is 0666; this host changed it): use --network host (with --allow network.host) or RUN --network=none: %w", &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err})
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return os.NewSyscallError("ioctl TUNSETIFF", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return os.NewSyscallError("ioctl TUNSETPERSIST", err)
	}
	return nil
}
