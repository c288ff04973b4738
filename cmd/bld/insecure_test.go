package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bldbuild/bld/internal/testutil"
)

// insecureName is a registry name the loopback rule does not cover; the
// test maps it to 127.0.0.1 in /etc/hosts while it runs (.example is
// reserved: it never resolves elsewhere).
const insecureName = "bld-insecure-test.example"

// TestInsecureRegistryName runs testdata/script/insecure: against the real
// docker-registry reached as insecureName:PORT, --insecure-registry NAME
// and NAME:PORT both work for a pull, a push, a registry cache and login
// (on a second docker-registry with htpasswd auth), and without the flag
// each fails with one clear line. Every request goes to 127.0.0.1.
func TestInsecureRegistryName(t *testing.T) {
	testutil.RequireRoot(t) // edits /etc/hosts
	reg := testutil.Registry(t)
	_, port, err := net.SplitHostPort(reg)
	if err != nil {
		t.Fatal(err)
	}
	authAddr := startAuthRegistry(t)
	_, authPort, _ := net.SplitHostPort(authAddr)
	mapHost(t, "/etc/hosts", insecureName, "127.0.0.1")
	rootfs := filepath.Join(t.TempDir(), "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	testscript.Run(t, testscript.Params{
		Dir: "../../testdata/script/insecure",
		Setup: func(e *testscript.Env) error {
			e.Setenv("BUSYBOX", rootfs)
			e.Setenv("REGISTRY", reg)
			e.Setenv("NAME", insecureName)
			e.Setenv("PORT", port)
			e.Setenv("AUTHPORT", authPort)
			e.Setenv("BLD_ROOT", filepath.Join(e.WorkDir, ".bldroot"))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds:                map[string]func(ts *testscript.TestScript, neg bool, args []string){"lines": cmdLines},
		RequireExplicitExec: true,
	})
}

// lines stdout|stderr N checks that the last command printed N lines there.
func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: lines stdout|stderr N")
	}
	var text string
	switch args[0] {
	case "stdout":
		text = ts.ReadFile("stdout")
	case "stderr":
		text = ts.ReadFile("stderr")
	default:
		ts.Fatalf("lines: %s is not stdout or stderr", args[0])
	}
	got := fmt.Sprint(strings.Count(strings.TrimSuffix(text, "\n"), "\n") + 1)
	if text == "" {
		got = "0"
	}
	if (got == args[1]) == neg {
		ts.Fatalf("%s has %s lines, want %s:\n%s", args[0], got, args[1], text)
	}
}

// mapHost adds "ip host" to the hosts file at path for the test and
// removes exactly what it added when the test ends, failed or not. The
// file is rewritten in place (it may be a bind mount).
func mapHost(t *testing.T, path, host, ip string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marker := "# bld test " + t.Name()
	if bytes.Contains(before, []byte(marker)) {
		t.Fatalf("%s already has a %q line: a killed run left it; remove it", path, marker)
	}
	added := fmt.Sprintf("%s %s %s\n", ip, host, marker)
	if len(before) > 0 && !bytes.HasSuffix(before, []byte("\n")) {
		added = "\n" + added
	}
	t.Cleanup(func() {
		now, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("restore %s: %v", path, err)
			return
		}
		restored := bytes.Replace(now, []byte(added), nil, 1)
		if !bytes.Equal(restored, now) {
			if err := os.WriteFile(path, restored, 0o644); err != nil {
				t.Errorf("restore %s: %v", path, err)
				return
			}
		}
		after, _ := os.ReadFile(path)
		if bytes.Contains(after, []byte(marker)) {
			t.Errorf("%s still maps %s after the test", path, host)
		} else if !bytes.Equal(after, before) {
			t.Logf("%s differs from before the test, not by this test's line (another program edited it)", path)
		}
	})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.WriteString(added)
	if err := f.Close(); werr != nil || err != nil {
		t.Fatalf("map %s in %s: %v %v", host, path, werr, err)
	}
	if addrs, err := net.DefaultResolver.LookupHost(t.Context(), host); err != nil || len(addrs) == 0 || addrs[0] != ip {
		t.Fatalf("%s resolves to %v (%v), want %s", host, addrs, err, ip)
	}
}

// ciPassword is the password of user ci on startAuthRegistry's registry;
// ciHtpasswd its bcrypt line (cost 4, so each request checks it quickly).
const (
	ciPassword = "s3cret"
	ciHtpasswd = "ci:$2b$04$s.rF73img32ovbO7X9xzzeT8ZBWCVdenUsFUp.u7jDp8b69t4jBPW\n"
)

// startAuthRegistry starts Debian's docker-registry with htpasswd basic
// auth on a free loopback port, stopped when the test ends.
func startAuthRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (make test installs it): %v", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(ciHtpasswd), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    realm: bld-test\n    path: %s/htpasswd\n", dir, addr, dir)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml")) // output discarded
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("registry with auth answered %s without credentials", resp.Status)
		}
		return addr
	}
	t.Fatalf("docker-registry with auth did not start on %s", addr)
	return ""
}
