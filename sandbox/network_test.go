package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// netHelperEnv makes the test binary a helper instead of a test run: in a
// step ("capture") or in a test-made network namespace ("outbound").
const netHelperEnv = "_BLD_TEST_NET_HELPER"

func init() {
	switch os.Getenv(netHelperEnv) {
	case "":
		return
	case "capture":
		os.Exit(captureMain())
	case "outbound":
		os.Exit(outboundMain())
	case "serve":
		os.Exit(serveMain())
	}
	os.Exit(2)
}

// TestNetworkDefault checks what a step sees of the network by default:
// lo and slirp4netns's tap0, none of the host's interfaces.
func TestNetworkDefault(t *testing.T) {
	root := newRoot(t)
	for _, mode := range []string{"", NetworkDefault} {
		got := netDevices(mustRun(t, root, Spec{Network: mode}, "cat", "/proc/net/dev"))
		slices.Sort(got)
		if want := []string{"lo", slirpTap}; !slices.Equal(got, want) {
			t.Errorf("network %q: interfaces %q, want %q", mode, got, want)
		}
	}
	out := mustRun(t, root, Spec{}, "ip", "-4", "addr", "show", slirpTap)
	if !strings.Contains(out, "inet 10.0.2.100/24") || !strings.Contains(out, "mtu "+slirpMTU) {
		t.Errorf("%s is not configured:\n%s", slirpTap, out)
	}
	checkNoNetworkLeft(t)
}

// TestNetworkHostLoopbackService starts a TCP service on the host's
// 127.0.0.1. Before the default network existed, a step (Spec{}, the host's
// network namespace) reached it: this test failed on that code. Now it is
// unreachable by default, also through slirp4netns's gateway (which maps to
// the host's loopback without --disable-host-loopback), and reachable with
// host networking.
func TestNetworkHostLoopbackService(t *testing.T) {
	root := newRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "secret-of-the-host\n")
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, addr := range []string{"127.0.0.1", "10.0.2.2"} {
		out, _, _ := runIn(t, root, Spec{}, "nc", "-w", "2", addr, port)
		if strings.Contains(out, "secret") {
			t.Errorf("default network: a step reached the host's 127.0.0.1:%s via %s", port, addr)
		}
	}
	if out := mustRun(t, root, Spec{Network: NetworkHost}, "nc", "-w", "2", "127.0.0.1", port); !strings.Contains(out, "secret") {
		t.Errorf("host network: got %q from the host's service", out)
	}
	checkNoNetworkLeft(t)
}

// TestNetworkNoCapture opens an AF_PACKET socket in a step (the step keeps
// CAP_NET_RAW) while the test sends UDP datagrams on the host's lo. In the
// host's network namespace (Spec{} before the default network existed)
// the step captured them: this test failed on that code. Now the step sees
// none of them; with host networking it does, which shows the capture
// works.
func TestNetworkNoCapture(t *testing.T) {
	root := newRoot(t)
	if n := captureInStep(t, root, Spec{}); n != 0 {
		t.Errorf("default network: the step captured %d of the host's datagrams", n)
	}
	if n := captureInStep(t, root, Spec{Network: NetworkHost}); n == 0 {
		t.Errorf("host network: the step captured none of the host's datagrams; the capture does not work")
	}
	checkNoNetworkLeft(t)
}

// captureInStep runs the capture helper in a step and sends marked
// datagrams to the host's 127.0.0.1 while it listens; it returns how many
// the helper saw.
func captureInStep(t *testing.T, root string, spec Spec) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary is dynamically linked: give it the host's libc.
	spec.Mounts = []mount.Mount{{Type: "bind", Source: exe, Target: "/capture", Options: []string{"rbind", "ro"}}}
	for _, d := range []string{"/lib/x86_64-linux-gnu", "/lib64", "/lib"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: d, Target: d, Options: []string{"rbind", "ro"}})
		}
	}
	spec.Root = bindRoot(root)
	spec.Args = []string{"/capture"}
	spec.Env = []string{netHelperEnv + "=capture"}
	pr, pw := io.Pipe()
	spec.Stdout = pw
	var stderr bytes.Buffer
	spec.Stderr = &stderr
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := Run(ctx, spec)
		pw.CloseWithError(err)
		errc <- err
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || sc.Text() != "ready" {
		pr.Close()
		t.Fatalf("capture helper did not start: %v %v; stderr:\n%s", sc.Err(), <-errc, stderr.String())
	}
	c, err := net.Dial("udp4", "127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 20; i++ {
		fmt.Fprintf(c, "%s %d", captureMarker, i)
		time.Sleep(20 * time.Millisecond)
	}
	var n int
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "seen "); ok {
			n, _ = strconv.Atoi(s)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("capture helper: %v; stderr:\n%s", err, stderr.String())
	}
	return n
}

const captureMarker = "bld-capture-marker"

// captureMain is the capture helper: it reads every frame on every
// interface of its network namespace for 1.5 s and prints how many held
// the marker.
func captureMain() int {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "socket AF_PACKET:", err)
		return 1
	}
	tv := unix.Timeval{Usec: 100_000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	fmt.Println("ready")
	seen := 0
	buf := make([]byte, 65536)
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		if bytes.Contains(buf[:n], []byte(captureMarker)) {
			seen++
		}
	}
	fmt.Printf("seen %d\n", seen)
	return 0
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestNetworkOutbound checks that a step reaches a server outside through
// the user-mode stack, without touching the internet: the test makes two
// network namespaces (files in its temp dir, no /run/netns) joined by a
// veth pair, serves HTTP at the TEST-NET address 192.0.2.1 from a helper
// process in one, and runs a step from a helper process in the other, so
// slirp4netns's traffic leaves from there.
func TestNetworkOutbound(t *testing.T) {
	root := newRoot(t)
	testutil.RequireTool(t, "ip")
	testutil.RequireTool(t, "nsenter")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	client, server := filepath.Join(dir, "client"), filepath.Join(dir, "server")
	for _, ns := range []string{client, server} {
		err := testNetNS(ns)
		t.Cleanup(func() { unix.Unmount(ns, unix.MNT_DETACH); os.Remove(ns) })
		if err != nil {
			t.Fatal(err)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		if out, err := exec.Command("nsenter", append([]string{"--net=" + ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("in %s: %s: %v\n%s", filepath.Base(ns), strings.Join(args, " "), err, out)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "nsenter", "--net="+server, exe)
	srv.Env = append(os.Environ(), netHelperEnv+"=serve")
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	if line, _ := bufio.NewReader(srvOut).ReadString('\n'); line != "ready\n" {
		t.Fatalf("server helper: %q", line)
	}

	in(client, "ip", "link", "add", "vc", "type", "veth", "peer", "name", "vs")
	in(client, "ip", "link", "set", "vs", "netns", strconv.Itoa(srv.Process.Pid)) // nsenter execs: its PID is the server's
	in(client, "ip", "addr", "add", "192.0.2.2/24", "dev", "vc")
	in(client, "ip", "link", "set", "vc", "up")
	in(client, "ip", "link", "set", "lo", "up")
	in(server, "ip", "addr", "add", "192.0.2.1/24", "dev", "vs")
	in(server, "ip", "link", "set", "vs", "up")
	in(server, "ip", "link", "set", "lo", "up")

	cmd := exec.CommandContext(ctx, "nsenter", "--net="+client, exe)
	cmd.Env = append(os.Environ(), netHelperEnv+"=outbound", "_BLD_TEST_ROOT="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("step in the client namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "hello from the test server") {
		t.Errorf("step output:\n%s\nwant the test server's answer", out)
	}
	checkNoNetworkLeft(t)
}

// serveMain is the HTTP server helper of TestNetworkOutbound.
func serveMain() int {
	ln, err := net.Listen("tcp4", ":8080")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("ready")
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the test server\n")
	}))
	return 1
}

// outboundMain is the helper TestNetworkOutbound runs in its client
// namespace: a default-network step that fetches from 192.0.2.1, then a
// check that nothing of the network is left.
func outboundMain() int {
	root := os.Getenv("_BLD_TEST_ROOT")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, Spec{
		Root:   bindRoot(root),
		Args:   []string{"wget", "-O", "-", "http://192.0.2.1:8080/"}, // (busybox 1.35 wget -T segfaults)
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		fmt.Println("run:", err)
		return 1
	}
	if left := networkLeft(); left != "" {
		fmt.Println(left)
		return 1
	}
	return 0
}

// TestNetworkCancelCleanup cancels a default-network step while it runs
// and checks that no slirp4netns process and no namespace mount remain.
func TestNetworkCancelCleanup(t *testing.T) {
	root := newRoot(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(500*time.Millisecond, cancel)
	err := Run(ctx, Spec{Root: bindRoot(root), Args: []string{"sleep", "1007"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	checkNoNetworkLeft(t)
}

// TestNetworkNoSlirp checks the error when slirp4netns is missing.
func TestNetworkNoSlirp(t *testing.T) {
	root := newRoot(t)
	t.Setenv("PATH", t.TempDir())
	_, _, err := runIn(t, root, Spec{}, "true")
	if err == nil || !strings.Contains(err.Error(), "slirp4netns") {
		t.Errorf("Run without slirp4netns = %v, want an error naming it", err)
	}
	checkNoNetworkLeft(t)
}

func checkNoNetworkLeft(t *testing.T) {
	t.Helper()
	if left := networkLeft(); left != "" {
		t.Error(left)
	}
}

// networkLeft describes slirp4netns children of this process and
// namespace files still mounted, or returns "".
func networkLeft() string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "("+slirpProgram) {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			left = append(left, "slirp4netns process left: "+strings.TrimSuffix(s, "\n"))
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "bld-sandbox-") && strings.Contains(line, "/netns ") {
			left = append(left, "namespace mount left: "+line)
		}
	}
	return strings.Join(left, "\n")
}

func TestResolvConf(t *testing.T) {
	for _, tc := range []struct {
		network, host, want string
	}{
		{"", "nameserver 127.0.0.53\noptions edns0\n", "options edns0\nnameserver 10.0.2.3\n"},
		{"default", "nameserver 127.0.0.1\nnameserver ::1\nsearch example.com\n", "search example.com\nnameserver 10.0.2.3\n"},
		{"", "", "nameserver 10.0.2.3\n"},
		{"", "nameserver 10.255.255.53\n", "nameserver 10.255.255.53\n"},
		{"", "nameserver 127.0.0.53\nnameserver 192.0.2.53\n", "nameserver 192.0.2.53\n"},
		{"host", "nameserver 127.0.0.53\n", "nameserver 127.0.0.53\n"},
		{"none", "nameserver 127.0.0.53\n", "nameserver 127.0.0.53\n"},
	} {
		if got := string(resolvConf(tc.network, []byte(tc.host))); got != tc.want {
			t.Errorf("resolvConf(%q, %q) = %q, want %q", tc.network, tc.host, got, tc.want)
		}
	}
}

// BenchmarkNetwork measures a step of `true` in each network mode: the
// difference is the cost of bringing the network up and down.
func BenchmarkNetwork(b *testing.B) {
	testutil.RequireRoot(b)
	root := filepath.Join(b.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	testutil.BusyboxRootfs(b, root)
	for _, mode := range []string{NetworkHost, NetworkNone, NetworkDefault} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if err := Run(b.Context(), Spec{Root: bindRoot(root), Args: []string{"true"}, Network: mode}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// testNetNS makes a new network namespace and bind-mounts it on path (a
// test host), on a locked thread it returns to its namespace.
func testNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o400)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			errc <- serr // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
