package sandbox

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Spec.ExtraHosts, ShmSize and Ulimits (--add-host, --shm-size, --ulimit)
// as the command sees them, and /etc/hosts of the root left as it was.
func TestSandboxRunFlags(t *testing.T) {
	root := newRoot(t)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	own := []byte("127.0.0.1\troot-own\n")
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), own, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		ExtraHosts: []Host{{Name: "db", IP: netip.MustParseAddr("10.1.2.3")}, {Name: "v6", IP: netip.MustParseAddr("fd00::1")}},
		ShmSize:    32 << 20,
		Ulimits:    []Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "core", Soft: 0, Hard: 0}},
	}
	out := mustRun(t, root, spec, "sh", "-c",
		`cat /etc/hosts; df -k /dev/shm | tail -n 1; echo "nofile $(ulimit -n) $(ulimit -Hn) core $(ulimit -c)"; echo x >> /etc/hosts`)
	for _, want := range []string{"127.0.0.1\tlocalhost bld\n", "10.1.2.3\tdb\n", "fd00::1\tv6\n", "nofile 100 200 core 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^shm +32768 `).MatchString(out) {
		t.Errorf("/dev/shm is not 32MiB:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/hosts")); err != nil || string(b) != string(own) {
		t.Errorf("root's /etc/hosts = %q, %v; want it untouched", b, err)
	}

	// Bad values are refused before anything runs.
	for _, bad := range []Spec{
		{ExtraHosts: []Host{{Name: "a b", IP: netip.MustParseAddr("10.0.0.1")}}},
		{ExtraHosts: []Host{{Name: "db"}}},
		{ShmSize: -1},
		{Ulimits: []Ulimit{{Name: "nofiles", Soft: 1, Hard: 1}}},
		{Ulimits: []Ulimit{{Name: "nofile", Soft: 2, Hard: 1}}},
	} {
		if _, _, err := runIn(t, root, bad, "true"); err == nil || !strings.HasPrefix(err.Error(), "sandbox: ") {
			t.Errorf("Run(%+v) = %v; want a sandbox error", bad, err)
		}
	}
}
