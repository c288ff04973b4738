package builder_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/sandbox"
)

// netGraph is FROM, RUN (network ""), RUN --network=net on line 3.
func netGraph(net string) *dag.Vertex {
	g := &graph{}
	v := g.run(g.from("main"), "true")
	return g.add(v, "", &dag.Run{Args: []string{"/bin/sh", "-c", "write /x y"}, Network: net}, "RUN --network="+net+" write /x y")
}

// TestNetworkHostNeedsEntitlement: RUN --network=host without --allow
// network.host fails before any step runs, naming the line and the flag.
func TestNetworkHostNeedsEntitlement(t *testing.T) {
	e := newEnv(t, nil)
	_, _, n, err := e.build(netGraph("host"))
	var ee *builder.EntitlementError
	if !errors.As(err, &ee) || ee.Entitlement != "network.host" {
		t.Fatalf("Build = %v, want an EntitlementError for network.host", err)
	}
	if n != 0 {
		t.Errorf("%d steps ran before the error, want 0", n)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "Dockerfile:3: RUN --network=host") || !strings.Contains(msg, "--allow network.host") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming Dockerfile:3 and --allow network.host", msg)
	}

	// The build's default network host needs it too.
	_, _, n, err = e.build(netGraph(""), func(b *builder.Builder) { b.Network = "host" })
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "--network host") || n != 0 {
		t.Errorf("--network host without --allow: Build = %v after %d runs, want an EntitlementError naming --network host", err, n)
	}
}

// TestNetworkModesReachSandbox: with the entitlement, each step gets its
// own mode, and "" (the default) leaves the choice to the sandbox.
func TestNetworkModesReachSandbox(t *testing.T) {
	for _, tc := range []struct {
		name    string
		def     string
		allow   []string
		step    string
		want    []string
		wantErr string
	}{
		{name: "default", step: "none", want: []string{"", "none"}},
		{name: "host allowed", allow: []string{"network.host"}, step: "host", want: []string{"", "host"}},
		{name: "build default host", def: "host", allow: []string{"network.host"}, want: []string{"host", "host"}},
		{name: "build default none", def: "none", step: "host", allow: []string{"network.host"}, want: []string{"none", "host"}},
		{name: "buildx default", def: "default", want: []string{"default", "default"}},
		// security.insecure is granted (RUN --security=insecure may use
		// it); it changes no network mode.
		{name: "insecure granted", allow: []string{"security.insecure"}, step: "none", want: []string{"", "none"}},
		{name: "unknown entitlement", allow: []string{"net.host"}, wantErr: "--allow net.host: unknown entitlement"},
		{name: "unknown mode", def: "bridge", wantErr: "--network bridge: unknown network mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var mu sync.Mutex
			var got []string
			_, _, _, err := e.build(netGraph(tc.step), func(b *builder.Builder) {
				b.Network, b.Allow = tc.def, tc.allow
				b.Run = func(ctx context.Context, spec sandbox.Spec) error {
					mu.Lock()
					got = append(got, spec.Network)
					mu.Unlock()
					return e.runner.Run(ctx, spec)
				}
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Build = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("networks %q, want %q", got, tc.want)
			}
		})
	}
}
