package build

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/bldbuild/bld/sandbox"
)

// ParseAddHost reads one --add-host value, docker's "name:ip" or buildx's
// "name=ip" (an IPv6 address after a colon: "name:::1" or "name=::1"; in
// brackets too). host-gateway, which docker maps to the host's bridge
// address, is refused: a RUN step has no bridge, and its own network
// namespace has no route to the host.
func ParseAddHost(s string) (sandbox.Host, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || ip == "" {
		return sandbox.Host{}, fmt.Errorf("--add-host %s: want NAME:IP or NAME=IP", s)
	}
	if strings.ContainsAny(name, " \t\n#") {
		return sandbox.Host{}, fmt.Errorf("--add-host %s: invalid host name %q", s, name)
	}
	if ip == "host-gateway" {
		return sandbox.Host{}, fmt.Errorf("--add-host %s: host-gateway is not supported: RUN steps have no bridge to the host", s)
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]"))
	if err != nil {
		return sandbox.Host{}, fmt.Errorf("--add-host %s: invalid IP address %q", s, ip)
	}
	return sandbox.Host{Name: name, IP: addr}, nil
}

// ParseShmSize reads --shm-size: a size in docker's units ("128m", "1g",
// a bare number of bytes), greater than zero.
func ParseShmSize(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--shm-size %s: not a size (e.g. 128m)", s)
	}
	return n, nil
}

// ParseUlimit reads one --ulimit value in docker's syntax,
// TYPE=SOFT[:HARD] (no HARD: the same as SOFT; -1 is unlimited).
func ParseUlimit(s string) (sandbox.Ulimit, error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok {
		return sandbox.Ulimit{}, fmt.Errorf("--ulimit %s: want TYPE=SOFT[:HARD]", s)
	}
	if _, known := sandbox.Rlimits[name]; !known {
		return sandbox.Ulimit{}, fmt.Errorf("--ulimit %s: unknown type %q", s, name)
	}
	soft, hard, hasHard := strings.Cut(v, ":")
	if !hasHard {
		hard = soft
	}
	var lim [2]uint64
	for i, f := range []string{soft, hard} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < -1 {
			return sandbox.Ulimit{}, fmt.Errorf("--ulimit %s: %q is not a number", s, f)
		}
		lim[i] = uint64(n) // -1 is RLIM_INFINITY
	}
	u := sandbox.Ulimit{Name: name, Soft: lim[0], Hard: lim[1]}
	if u.Soft > u.Hard {
		return sandbox.Ulimit{}, fmt.Errorf("--ulimit %s: soft limit above hard limit", s)
	}
	return u, nil
}
