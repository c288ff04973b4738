package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// state is an opened root: the store, the cache and the snapshotter.
type state struct {
	root  string
	store *store.Store
	cache *cache.Cache
	snaps snapshot.Snapshotter
}

// openState opens the root's store and cache; the snapshotter only when
// withSnapshots (it probes overlay, which commands like images need not).
func openState(g *globalOptions, withSnapshots bool) (*state, error) {
	root, err := filepath.Abs(g.root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	st := &state{root: root}
	if st.store, err = store.Open(root); err != nil {
		return nil, err
	}
	if st.cache, err = cache.Open(filepath.Join(root, "cache")); err != nil {
		return nil, err
	}
	if withSnapshots {
		if st.snaps, err = snapshot.New(filepath.Join(root, "snapshots")); err != nil {
			return nil, err
		}
		// Active snapshots of bld processes that died (a crash, kill -9).
		if c, ok := st.snaps.(interface{ Cleanup(context.Context) error }); ok {
			_ = c.Cleanup(context.Background())
		}
	}
	return st, nil
}

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
