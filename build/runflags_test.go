package build

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bldbuild/bld/sandbox"
)

func TestParseAddHost(t *testing.T) {
	for in, want := range map[string]sandbox.Host{
		"db:10.0.0.5":     {Name: "db", IP: netip.MustParseAddr("10.0.0.5")},
		"db=10.0.0.5":     {Name: "db", IP: netip.MustParseAddr("10.0.0.5")},
		"v6:::1":          {Name: "v6", IP: netip.MustParseAddr("::1")},
		"v6=fd00::1":      {Name: "v6", IP: netip.MustParseAddr("fd00::1")},
		"v6:[2001:db8::]": {Name: "v6", IP: netip.MustParseAddr("2001:db8::")},
	} {
		got, err := ParseAddHost(in)
		if err != nil || got != want {
			t.Errorf("ParseAddHost(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"db", "db:", ":10.0.0.5", "db:10.0.0", "db:host-gateway", "a b:10.0.0.1", "db:example.com"} {
		if _, err := ParseAddHost(in); err == nil || !strings.HasPrefix(err.Error(), "--add-host "+in+":") {
			t.Errorf("ParseAddHost(%q) = %v; want an error naming the flag and value", in, err)
		}
	}
}

func TestParseShmSize(t *testing.T) {
	for in, want := range map[string]int64{"128m": 128 << 20, "1g": 1 << 30, "65536k": 64 << 20, "4096": 4096} {
		if got, err := ParseShmSize(in); err != nil || got != want {
			t.Errorf("ParseShmSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1m", "lots"} {
		if _, err := ParseShmSize(in); err == nil || !strings.HasPrefix(err.Error(), "--shm-size ") {
			t.Errorf("ParseShmSize(%q) = %v; want an error naming the flag", in, err)
		}
	}
}

func TestParseUlimit(t *testing.T) {
	for in, want := range map[string]sandbox.Ulimit{
		"nofile=1024:2048": {Name: "nofile", Soft: 1024, Hard: 2048},
		"nproc=500":        {Name: "nproc", Soft: 500, Hard: 500},
		"core=-1":          {Name: "core", Soft: ^uint64(0), Hard: ^uint64(0)},
		"stack=8192:-1":    {Name: "stack", Soft: 8192, Hard: ^uint64(0)},
	} {
		if got, err := ParseUlimit(in); err != nil || got != want {
			t.Errorf("ParseUlimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"nofile", "nofile=", "nofiles=1", "nofile=2:1", "nofile=-2", "nofile=1:x", "=1"} {
		if _, err := ParseUlimit(in); err == nil || !strings.HasPrefix(err.Error(), "--ulimit "+in+":") {
			t.Errorf("ParseUlimit(%q) = %v; want an error naming the flag and value", in, err)
		}
	}
}
