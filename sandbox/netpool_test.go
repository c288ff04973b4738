package sandbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNetworksPool: steps run through a Networks pool get the default
// network (tap0 configured, not the host's namespace); a step after
// another reuses its namespace, two steps at once never share one (each
// may listen on the same port); after Close no slirp4netns is left and no
// namespace held.
func TestNetworksPool(t *testing.T) {
	root := newRoot(t)
	nets := &Networks{}
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		err := nets.Run(t.Context(), Spec{Root: bindRoot(root), Args: args, Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Fatalf("Run(%q) = %v; stderr:\n%s", args, err, errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	host := mustReadlink(t, "/proc/self/ns/net")
	// The first step gets its network as soon as slirp4netns has started
	// on it, and sets its root up while slirp4netns configures it: its
	// command must start only once the network is up.
	if out := run("sh", "-c", "ip -4 addr show "+slirpTap+"; ip route"); !strings.Contains(out, "inet 10.0.2.100/24") || !strings.Contains(out, "default via 10.0.2.2") {
		t.Errorf("%s is not configured when the first step starts:\n%s", slirpTap, out)
	}
	first := run("readlink", "/proc/self/ns/net")
	if first == host {
		t.Fatalf("a pooled step is in the host's network namespace %s", host)
	}
	if again := run("readlink", "/proc/self/ns/net"); again != first {
		t.Errorf("the next step got namespace %s, want %s again", again, first)
	}

	// Two at once: both listen on port 8080 while the other runs.
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i := range got {
		wg.Go(func() {
			got[i] = run("sh", "-c", "nc -l -p 8080 & sleep 0.5; readlink /proc/self/ns/net; netstat -ltn | grep -c :8080; kill %1")
		})
	}
	wg.Wait()
	if got[0] == got[1] {
		t.Errorf("two steps at once share a network namespace: %q", got)
	}
	for _, g := range got {
		if !strings.HasSuffix(g, "\n1") {
			t.Errorf("a step did not listen on 8080 alone: %q", g)
		}
	}
	if err := nets.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	checkNoNetworkLeft(t)
	if left := netnsLeft(); left != "" {
		t.Errorf("network namespaces still held: %s", left)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// netnsLeft describes the network namespaces this process still holds
// descriptors of (a pooled network's, newNetNS), or returns "": after
// Close there must be none, or the namespace, its tap and its slirp4netns
// would outlive the pool.
func netnsLeft() string {
	var left []string
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "net:[") {
			left = append(left, fd+" -> "+l)
		}
	}
	return strings.Join(left, ", ")
}

// TestNetworksWarm: networks warmed before any step are the ones steps
// get (no step makes its own while they warm), two steps at once get two
// of them, and Close while networks are still warming leaves no
// namespace held and no slirp4netns.
func TestNetworksWarm(t *testing.T) {
	root := newRoot(t)
	nets := &Networks{}
	nets.Warm(2)
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i := range got {
		wg.Go(func() {
			var out, errOut bytes.Buffer
			err := nets.Run(t.Context(), Spec{Root: bindRoot(root), Args: []string{"sh", "-c", "sleep 0.3; readlink /proc/self/ns/net"}, Stdout: &out, Stderr: &errOut})
			if err != nil {
				t.Errorf("Run = %v; stderr:\n%s", err, errOut.String())
			}
			got[i] = strings.TrimSpace(out.String())
		})
	}
	wg.Wait()
	if got[0] == got[1] || got[0] == mustReadlink(t, "/proc/self/ns/net") {
		t.Errorf("two steps at once: namespaces %q (host %s)", got, mustReadlink(t, "/proc/self/ns/net"))
	}
	nets.mu.Lock()
	made := len(nets.all)
	nets.mu.Unlock()
	if made != 2 {
		t.Errorf("%d networks made for two warmed and two steps, want 2", made)
	}
	if err := nets.Close(); err != nil {
		t.Fatal(err)
	}

	// Closed at once, while three are still starting.
	early := &Networks{}
	early.Warm(3)
	if err := early.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	checkNoNetworkLeft(t)
	if left := netnsLeft(); left != "" {
		t.Errorf("network namespaces still held: %s", left)
	}
	if err := early.Run(t.Context(), Spec{Root: bindRoot(root), Args: []string{"true"}}); err == nil {
		t.Error("a closed pool ran a step")
	}
}

// A step given a pooled network that is still coming up (Networks hands a
// network over once its slirp4netns has started) sets its root up but
// starts its command only once the network is up; a network that fails
// to come up fails the step with the network's error, and the command
// never runs.
func TestPooledNetworkWait(t *testing.T) {
	root := newRoot(t)
	ns, err := newNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	up := &netUp{done: make(chan struct{})}
	var out bytes.Buffer
	res := make(chan error, 1)
	go func() {
		res <- Run(t.Context(), Spec{Root: bindRoot(root), Args: []string{"echo", "ran"}, Stdout: &out, netns: ns, netUp: up})
	}()
	select {
	case err := <-res:
		t.Fatalf("the step ended before its network was up: %v, output %q", err, out.String())
	case <-time.After(300 * time.Millisecond):
	}
	close(up.done)
	if err := <-res; err != nil || out.String() != "ran\n" {
		t.Fatalf("once the network is up: %v, output %q; want ran", err, out.String())
	}

	out.Reset()
	failed := &netUp{done: make(chan struct{}), err: errors.New("slirp4netns: exited: test")}
	close(failed.done)
	err = Run(t.Context(), Spec{Root: bindRoot(root), Args: []string{"echo", "ran"}, Stdout: &out, netns: ns, netUp: failed})
	if err == nil || !strings.Contains(err.Error(), "sandbox: network: slirp4netns: exited: test") || out.Len() != 0 {
		t.Errorf("a network that did not come up: %v, output %q; want the network's error and no output", err, out.String())
	}
}
