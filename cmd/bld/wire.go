package main

import (
	"net"
	"strings"
)

// isLoopback reports whether a registry host is on this machine; those are
// reached over plain HTTP by default.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
