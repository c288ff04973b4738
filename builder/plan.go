package builder

import (
	"context"
	"errors"
	"fmt"
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
		keys[i] = in.key
	}
	var content v1.Hash
	comps := []cache.Component{}
	def := dag.Encode(keyOp(v.Op))
	switch op := v.Op.(type) {
	case *dag.Source:
		comps = append(comps, cache.Component{Name: "base image digest", Value: op.Digest.String()})
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
		bare := *keyOp(op).(*dag.Run)
		bare.Env = nil
		comps = append(comps, cache.Component{Name: "instruction", Value: shortDigest(dag.Encode(&bare))})
		for _, kv := range keyOp(op).(*dag.Run).Env {
			k, val, _ := strings.Cut(kv, "=")
			comps = append(comps, cache.Component{Name: "build arg or env " + k, Value: shortDigest([]byte(val))})
		}
	default:
		comps = append(comps, cache.Component{Name: "instruction", Value: shortDigest(def)})
	}
	for i, k := range keys {
		name := "parent step"
		if i > 0 {
			name = fmt.Sprintf("input %d (%s)", i, instruction(v.Inputs[i]))
		}
		comps = append(comps, cache.Component{Name: name, Value: k.String()})
	}
	n.key, _ = cache.NewKey(def, keys, content)
	n.comps = comps

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
	case err == nil && s.usable(rec):
		n.rec, n.hit = rec, true
		return n, nil
	case err != nil && !errors.Is(err, cache.ErrNotFound):
		return nil, err
	}
	for _, rc := range s.b.Remote {
		if rec, ok := rc.Get(n.key); ok {
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
func (s *solve) explain(v *dag.Vertex, n *node, inputs []*node) string {
	if len(inputs) > 0 && !inputs[0].hit {
		if _, src := v.Inputs[0].Op.(*dag.Source); !src {
			return "parent step re-ran"
		}
	}
	last, err := s.b.Cache.Last(s.scope(v, n))
	if err != nil {
		return ""
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

// keyOp returns op as it goes into its cache key: a RUN without proxy
// variables in its environment.
func keyOp(op dag.Op) dag.Op {
	r, ok := op.(*dag.Run)
	if !ok {
		return op
	}
	k := *r
	k.Env = nil
	for _, kv := range r.Env {
		name, _, _ := strings.Cut(kv, "=")
		if !proxyVars[name] {
			k.Env = append(k.Env, kv)
		}
	}
	return &k
}
