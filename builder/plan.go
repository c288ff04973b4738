package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/snapshot"
)

// plan computes v's key from its definition, its inputs' keys and the
// content it reads from the context, and looks the key up.
func (s *solve) plan(ctx context.Context, v *dag.Vertex, inputs []*node) (*node, error) {
	n := &node{}
	if len(inputs) > 0 {
		n.depth = inputs[0].depth + 1
	}
	keys := make([]cache.Key, len(inputs))
	for i, in := range inputs {
		keys[i] = in.chain
	}
	var content v1.Hash
	comps := []cache.Component{}
	kop := s.keyOp(v.Op)
	def := dag.Encode(kop)
	if _, src := v.Op.(*dag.Source); !src {
		// What the builder adds to every step: SOURCE_DATE_EPOCH clamps
		// the timestamps of its layer, so a record made without it (or
		// with another) is not the same layer.
		epoch := "none"
		if s.b.Epoch != nil {
			epoch = strconv.FormatInt(s.b.Epoch.Unix(), 10)
		}
		def = fmt.Appendf(def, "\nepoch %s", epoch)
		comps = append(comps, cache.Component{Name: "SOURCE_DATE_EPOCH", Value: epoch})
	}
	// A linked COPY is made on an empty base and rebased onto its parent:
	// its key leaves the parent out (BuildKit's COPY --link), so an
	// earlier step changing neither re-runs nor changes it.
	n.linked = linked(v.Op)
	firstInput := 0
	if n.linked {
		firstInput = 1
	}
	switch op := v.Op.(type) {
	case *dag.Source:
		comps = append(comps, cache.Component{Name: "base image digest", Value: op.Digest.String()},
			cache.Component{Name: "base image platform", Value: op.Platform})
	case *dag.Copy:
		comps = append(comps, cache.Component{Name: "instruction", Value: shortDigest(def)})
		if op.From == "" && len(op.Sources) > 0 {
			h, err := fscopy.Checksum(ctx, s.contextSource(), op.Sources, s.copyOptions(op), s.b.StatCache)
			if err != nil {
				return nil, &StepError{Pos: v.Pos, Instruction: instruction(v), Err: err}
			}
			content = h
			comps = append(comps, cache.Component{Name: "context files", Value: h.String()})
		}
	case *dag.Run:
		// The instruction without its environment, then one component per
		// variable, so a miss can name the build arg that changed.
		bare := *kop.(*dag.Run)
		bare.Env = nil
		bare.Network = ""
		bare.Security = ""
		comps = append(comps, cache.Component{Name: "instruction", Value: shortDigest(dag.Encode(&bare))},
			cache.Component{Name: "network mode", Value: kop.(*dag.Run).Network})
		if sec := kop.(*dag.Run).Security; sec != "" {
			// BuildKit keys the exec op's security mode.
			comps = append(comps, cache.Component{Name: "security mode", Value: sec})
		}
		if s.b.Hosts != nil {
			// BuildKit keys a RUN's extra hosts.
			def = fmt.Appendf(def, "\nhosts %s", shortDigest(s.b.Hosts))
			comps = append(comps, cache.Component{Name: "extra hosts", Value: shortDigest(s.b.Hosts)})
		}
		if extra := s.b.runOptionsKey(); extra != nil {
			def = append(def, extra...)
			comps = append(comps, cache.Component{Name: "--add-host, --shm-size, --ulimit", Value: shortDigest(extra)})
		}
		h, mcomps, err := s.mountedContext(ctx, op)
		if err != nil {
			return nil, &StepError{Pos: v.Pos, Instruction: instruction(v), Err: err}
		}
		content = h
		comps = append(comps, mcomps...)
		for _, kv := range kop.(*dag.Run).Env {
			k, val, _ := strings.Cut(kv, "=")
			comps = append(comps, cache.Component{Name: "build arg or env " + k, Value: shortDigest([]byte(val))})
		}
	default:
		comps = append(comps, cache.Component{Name: "instruction", Value: shortDigest(def)})
	}
	for i, k := range keys {
		if i < firstInput {
			continue
		}
		name := "parent step"
		if i > 0 {
			name = fmt.Sprintf("input %d (%s)", i, instruction(v.Inputs[i]))
		}
		comps = append(comps, cache.Component{Name: name, Value: k.String()})
	}
	n.key, _ = cache.NewKey(def, keys[firstInput:], content)
	n.comps = comps
	n.chain = n.key
	if n.linked {
		// What follows a linked step builds on the parent too.
		n.chain, _ = cache.NewKey([]byte("rebase"), []cache.Key{keys[0], n.key}, v1.Hash{})
	}

	if _, ok := v.Op.(*dag.Source); ok {
		// A base image is not a cached step: its result is its layers.
		n.hit = true
		return n, nil
	}
	if s.b.NoCache != nil && s.b.NoCache(v) {
		n.reason = "cache disabled for this step"
		return n, nil
	}
	rec, err := s.b.Cache.Get(n.key)
	switch {
	case err == nil && s.usable(rec) && !layerless(v, rec):
		n.rec, n.hit = rec, true
		return n, nil
	case err != nil && !errors.Is(err, cache.ErrNotFound):
		return nil, err
	}
	for _, rc := range s.b.Remote {
		if rec, ok := rc.Get(n.key); ok && !layerless(v, rec) {
			rec.Key = n.key
			if rec.Layer != nil {
				rec.Snapshot = snapshot.StepName(n.key.String())
			}
			n.rec, n.hit, n.remote = rec, true, rc
			return n, nil
		}
	}
	n.reason = s.explain(v, n, inputs)
	return n, nil
}

// mountedContext is the content digest of the context files a RUN's bind
// mounts read (the zero Hash if none), as BuildKit keys a mount by the
// content it selects: a change to a mounted file re-runs the step, a
// change elsewhere in the context or to an mtime does not.
func (s *solve) mountedContext(ctx context.Context, op *dag.Run) (v1.Hash, []cache.Component, error) {
	var pre []byte
	var comps []cache.Component
	for i, m := range op.Mounts {
		if m.Type != "bind" || m.From != "" {
			continue
		}
		h, err := fscopy.Checksum(ctx, s.contextSource(), []string{m.Source}, fscopy.Options{}, s.b.StatCache)
		if err != nil {
			return v1.Hash{}, nil, fmt.Errorf("--mount=type=bind,source=%s: %w", m.Source, err)
		}
		pre = fmt.Appendf(pre, "mount %d %s\n", i, h)
		comps = append(comps, cache.Component{Name: "context files mounted at " + m.Target, Value: h.String()})
	}
	if pre == nil {
		return v1.Hash{}, nil, nil
	}
	h, _, _ := v1.SHA256(bytes.NewReader(pre))
	return h, comps, nil
}

// layerless reports a RUN record without a layer: one an older bld made
// for a RUN that changed nothing. Every RUN has a layer now (as under
// BuildKit), so such a record (local or imported) is a miss rather than
// a different image.
func layerless(v *dag.Vertex, r cache.Record) bool {
	_, run := v.Op.(*dag.Run)
	return run && r.Layer == nil
}

// usable reports whether a record's layer blob is still in the store.
func (s *solve) usable(r cache.Record) bool {
	if r.Layer == nil {
		return true
	}
	_, err := s.b.Store.Stat(r.Layer.Digest)
	return err == nil
}

// explain says why v missed: the parent re-ran, or the first component
// that differs from the last record made at the same place of this build.
// A step never built at this place before has nothing to explain (as
// BuildKit, a cold build prints no reasons).
func (s *solve) explain(v *dag.Vertex, n *node, inputs []*node) string {
	last, err := s.b.Cache.Last(s.scope(v, n))
	if err != nil {
		return ""
	}
	if len(inputs) > 0 && !inputs[0].hit && !n.linked {
		if _, src := v.Inputs[0].Op.(*dag.Source); !src {
			return "parent step re-ran"
		}
	}
	why := cache.Explain(n.comps, last.Components)
	if why == "parent step changed" {
		if _, src := v.Inputs[0].Op.(*dag.Source); src {
			return "base image changed"
		}
		return "parent step changed"
	}
	return why
}

func (s *solve) contextSource() fscopy.Source {
	return fscopy.Source{Dir: s.b.Context, Exclude: s.b.Ignore, IsContext: true}
}

// proxyVars are the predefined proxy build args: they reach RUN steps but,
// as in BuildKit, never their cache keys (a proxy does not change output).
var proxyVars = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// linked reports whether op is a COPY --link keyed and made without its
// parent. A --chown by name is looked up in the parent's /etc/passwd, so
// such a COPY keeps its parent in the key and is made over it (BuildKit
// cannot resolve a name on the empty base at all).
func linked(op dag.Op) bool {
	c, ok := op.(*dag.Copy)
	if !ok || !c.Link {
		return false
	}
	if c.Chown == "" {
		return true
	}
	u, g, _ := strings.Cut(c.Chown, ":")
	return isNumber(u) && (g == "" || isNumber(g))
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// keyOp returns op as it goes into its cache key: a FROM by its resolved
// digest and platform, never the name it was written with (BuildKit keys
// the resolved digest); a COPY --from or RUN --mount from= without the
// stage or image name (the input's key is in the key); a RUN with its
// effective network mode ("default", "none" or "host") and without proxy
// variables in its environment.
func (s *solve) keyOp(op dag.Op) dag.Op {
	switch o := op.(type) {
	case *dag.Source:
		if o.Digest == (v1.Hash{}) {
			// Not resolved to a digest: the name is all there is to
			// tell two bases apart.
			return o
		}
		return &dag.Source{Digest: o.Digest, Platform: o.Platform}
	case *dag.Copy:
		if o.From == "" {
			return o
		}
		// Inputs[1] is in the key by its own key; its stage name or
		// image reference is only a label.
		k := *o
		k.From = "input"
		return &k
	case *dag.Run:
		k := *o
		k.Network = s.network(o)
		k.Mounts = slices.Clone(o.Mounts)
		for i := range k.Mounts {
			if k.Mounts[i].From != "" {
				k.Mounts[i].From = "input" // keyed by Inputs[Input]'s key
			}
		}
		k.Env = nil
		for _, kv := range o.Env {
			name, _, _ := strings.Cut(kv, "=")
			if !proxyVars[name] {
				k.Env = append(k.Env, kv)
			}
		}
		return &k
	}
	return op
}

// network is the network mode a RUN step gets: its own --network, else
// the build's default; "default" is the isolated network namespace.
func (s *solve) network(op *dag.Run) string {
	n := op.Network
	if n == "" {
		n = s.b.Network
	}
	if n == "" {
		n = "default"
	}
	return n
}
