package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Issue 11's soak: 8 builds at once on one root, some killed with -9 at a
// random moment, for 45 s (BLD_SOAK=5m for the full 5 minutes);
// then bld check finds nothing wrong, nothing is mounted under the root,
// no killed bld's cgroup and no secret is left. Every build that was not
// killed must succeed. Needs root.
func TestSoakKill(t *testing.T) {
	dur := 45 * time.Second
	if s := os.Getenv("BLD_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BLD_SOAK=%s: %v", s, err)
		}
		dur = d
	}
	e := newDiskEnv(t, "")
	t.Cleanup(func() { detachLoops(e.dir) })
	secret := fmt.Sprintf("soaksecret-%x", rand.Uint64())
	secretFile := filepath.Join(e.dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	var ran, killed, ok atomic.Int64
	var mu sync.Mutex
	var killedPids []int
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				ctxDir := filepath.Join(e.dir, fmt.Sprintf("ctx-%d-%d", w, i))
				if err := os.MkdirAll(ctxDir, 0o755); err != nil {
					t.Error(err)
					return
				}
				// Few variants, so builds share cache records and snapshots.
				df := fmt.Sprintf("FROM busybox\nRUN --mount=type=secret,id=s sh -c 'cat /run/secrets/s >/dev/null; echo %d > /a; sleep 0.%d'\nRUN echo %d > /b\n",
					rand.IntN(4), rand.IntN(10), rand.IntN(4))
				if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
					t.Error(err)
					return
				}
				cmd := exec.Command(e.bld, "build", "--progress", "plain", "--secret", "id=s,src="+secretFile, "-t", fmt.Sprintf("soak%d", w), ctxDir)
				cmd.Env = append(os.Environ(), "BLD_ROOT="+e.root)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				ran.Add(1)
				kill := rand.IntN(3) == 0
				if kill {
					time.Sleep(time.Duration(100+rand.IntN(2000)) * time.Millisecond)
					if cmd.Process.Signal(syscall.SIGKILL) == nil {
						killed.Add(1)
						mu.Lock()
						killedPids = append(killedPids, cmd.Process.Pid)
						mu.Unlock()
					}
				}
				err := cmd.Wait()
				if err == nil {
					ok.Add(1)
				} else if !kill {
					t.Errorf("build %d-%d (not killed): %v\n%s", w, i, err, out.String())
				}
				os.RemoveAll(ctxDir)
			}
		}()
	}
	wg.Wait()
	t.Logf("%v: %d builds ran, %d killed with -9, %d succeeded", dur, ran.Load(), killed.Load(), ok.Load())

	o, err := e.run("check")
	if err != nil || !strings.Contains(o, " 0 problems") {
		t.Errorf("bld check after the soak: %v\n%s", err, o)
	}
	m, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(m), "\n") {
		if strings.Contains(line, e.root) {
			t.Errorf("mount left: %s", line)
		}
	}
	for _, pid := range killedPids {
		if cgs := cgroupsOf(pid); len(cgs) > 0 {
			t.Errorf("cgroups of a killed bld (pid %d) left: %v", pid, cgs)
		}
	}
	if found := filesContaining(t, e.root, secret); len(found) > 0 {
		t.Errorf("the secret is left in %v", found)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, "tmp")); len(ents) > 0 {
		var names []string
		for _, en := range ents {
			names = append(names, en.Name())
		}
		t.Errorf("left in the root's tmp: %v", names)
	}
}
