package frontend

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// dispatchExpose records ports as "port/proto"; a range records each port
// of it (BuildKit; buildah records the range as one key).
func (b *build) dispatchExpose(s *stage, c *instructions.ExposeCommand) error {
	var ports []string
	for _, p := range c.Ports {
		if err := b.checkBound(p, s.env); err != nil {
			return err
		}
		words, err := b.shlex.ProcessWords(p, s.env)
		if err != nil {
			return err
		}
		for _, w := range words {
			ps, err := parsePort(w)
			if err != nil {
				return err
			}
			ports = append(ports, ps...)
		}
	}
	if s.cfg.ExposedPorts == nil {
		s.cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		s.cfg.ExposedPorts[p] = struct{}{}
	}
	s.commit(nil, fmt.Sprintf("EXPOSE %v", ports))
	return nil
}

// parsePort reads "[ip:][hostPort:]port[-end][/proto]" and returns each
// container port as "port/proto" (BuildKit's parsePort).
func parsePort(raw string) ([]string, error) {
	ip, hostPort, containerPort := splitPortParts(raw)
	containerPort, proto, _ := strings.Cut(containerPort, "/")
	if containerPort == "" {
		return nil, fmt.Errorf("invalid port: %q: no port specified", raw)
	}
	switch strings.ToLower(proto) {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid port: %q: invalid proto: %s", raw, proto)
	}
	if ip != "" && ip[0] == '[' {
		h, _, err := net.SplitHostPort(ip + ":")
		if err != nil {
			return nil, fmt.Errorf("invalid IP address %v: %w", ip, err)
		}
		ip = h
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return nil, errors.New("invalid IP address: " + ip)
	}
	start, end, err := parsePortRange(containerPort)
	if err != nil {
		return nil, errors.New("invalid containerPort: " + containerPort)
	}
	if hostPort != "" {
		hs, he, err := parsePortRange(hostPort)
		if err != nil {
			return nil, errors.New("invalid hostPort: " + hostPort)
		}
		if end-start != he-hs && end != start {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", containerPort, hostPort)
		}
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+strings.ToLower(proto))
	}
	return out, nil
}

func splitPortParts(raw string) (ip, hostPort, containerPort string) {
	parts := strings.Split(raw, ":")
	n := len(parts)
	switch n {
	case 1:
		return "", "", parts[0]
	case 2:
		return "", parts[0], parts[1]
	default:
		return strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
	}
}

func parsePortRange(s string) (int, int, error) {
	if s == "" {
		return 0, 0, errors.New("empty string specified for ports")
	}
	a, z, ok := strings.Cut(s, "-")
	start, err := parsePortNumber(a)
	if err != nil {
		return 0, 0, err
	}
	if !ok || a == z {
		return start, start, nil
	}
	end, err := parsePortNumber(z)
	if err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, errors.New("invalid port range: " + s)
	}
	return start, end, nil
}

func parsePortNumber(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return int(p), nil
}

// linuxSignals are the signal names STOPSIGNAL accepts (without "SIG").
var linuxSignals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true,
	"HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true,
	"POLL": true, "PROF": true, "PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true,
	"STOP": true, "SYS": true, "TERM": true, "TRAP": true, "TSTP": true, "TTIN": true,
	"TTOU": true, "URG": true, "USR1": true, "USR2": true, "VTALRM": true, "WINCH": true,
	"XCPU": true, "XFSZ": true, "RTMIN": true, "RTMAX": true,
}

// checkSignal accepts what moby's signal.ParseSignal accepts on Linux: a
// non-zero number, or a name with or without "SIG", any case.
func checkSignal(sig string) error {
	if n, err := strconv.Atoi(sig); err == nil {
		if n == 0 {
			return fmt.Errorf("invalid signal: %s", sig)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	if linuxSignals[name] {
		return nil
	}
	for _, base := range []string{"RTMIN+", "RTMAX-"} {
		if rest, ok := strings.CutPrefix(name, base); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= 15 && rest == strconv.Itoa(n) {
				return nil
			}
		}
	}
	return fmt.Errorf("invalid signal: %s", sig)
}
