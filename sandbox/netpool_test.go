package sandbox

import (
	"bytes"
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
	first := run("readlink", "/proc/self/ns/net")
	if first == host {
		t.Fatalf("a pooled step is in the host's network namespace %s", host)
	}
	if out := run("ip", "-4", "addr", "show", slirpTap); !strings.Contains(out, "inet 10.0.2.100/24") {
		t.Errorf("%s is not configured:\n%s", slirpTap, out)
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
