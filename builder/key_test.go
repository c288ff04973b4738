package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/store"
)

// digestA and digestB are two base image manifest digests.
var (
	digestA = v1.Hash{Algorithm: "sha256", Hex: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	digestB = v1.Hash{Algorithm: "sha256", Hex: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
)

// image is a FROM of a (layerless) base image by name, digest and platform.
func (g *graph) image(ref string, digest v1.Hash, platform string) *dag.Vertex {
	return g.add(nil, "main", &dag.Source{Ref: ref, Digest: digest, Platform: platform}, "FROM "+ref)
}

func (g *graph) runOp(parent *dag.Vertex, op *dag.Run) *dag.Vertex {
	return g.add(parent, "", op, "RUN "+op.Args[2])
}

func (g *graph) copyOp(parent *dag.Vertex, op *dag.Copy, from ...*dag.Vertex) *dag.Vertex {
	return g.add(parent, "", op, "COPY "+op.Sources[0]+" "+op.Dest, from...)
}

func shRun(cmd string) *dag.Run { return &dag.Run{Args: []string{"/bin/sh", "-c", cmd}} }

// withImages makes every FROM resolve to an empty image.
func withImages(b *builder.Builder) {
	b.Image = func(context.Context, *dag.Source) (v1.Image, error) { return empty.Image, nil }
}

// TestKeyFields is the table of what is in a step's cache key: for each
// field, a change to it must miss, and a change to anything that is not in
// the key must hit. Each case builds twice, with after false then true,
// and looks at the target step of the second build.
//
// The network, FROM-by-name and --link cases reproduce issue 12's
// findings: on the code before the fix, a RUN built with host networking
// was reused under --network none, a base image named differently but with
// the same digest missed, and a COPY --link re-ran when an earlier step
// changed.
func TestKeyFields(t *testing.T) {
	type tcase struct {
		name    string
		mk      func(g *graph, after bool) *dag.Vertex // returns the target
		opt     func(after bool) func(*builder.Builder)
		between func(t *testing.T, e *env)
		hit     bool
	}
	run := func(mod func(r *dag.Run, after bool)) func(g *graph, after bool) *dag.Vertex {
		return func(g *graph, after bool) *dag.Vertex {
			op := shRun("write /r r")
			mod(op, after)
			return g.runOp(g.from("main"), op)
		}
	}
	pick := func(after bool, a, b string) string {
		if after {
			return b
		}
		return a
	}
	cp := func(mod func(c *dag.Copy, after bool)) func(g *graph, after bool) *dag.Vertex {
		return func(g *graph, after bool) *dag.Vertex {
			op := &dag.Copy{Sources: []string{"f"}, Dest: "/d/"}
			mod(op, after)
			return g.copyOp(g.from("main"), op)
		}
	}
	fromRun := func(ref func(after bool) (string, v1.Hash, string)) func(g *graph, after bool) *dag.Vertex {
		return func(g *graph, after bool) *dag.Vertex {
			r, d, p := ref(after)
			return g.run(g.image(r, d, p), "write /r r")
		}
	}
	network := func(def string) func(bool) func(*builder.Builder) {
		return func(after bool) func(*builder.Builder) {
			return func(b *builder.Builder) {
				if after {
					b.Network = def
				}
			}
		}
	}
	cases := []tcase{
		// RUN
		{name: "run: network none vs default", mk: run(func(r *dag.Run, a bool) { r.Network = pick(a, "", "none") })},
		{name: "run: network host vs none", mk: run(func(r *dag.Run, a bool) { r.Network = pick(a, "host", "none") })},
		{name: "run: build default network changed", mk: run(func(*dag.Run, bool) {}), opt: network("host")},
		{name: "run: same network, from the flag then the build default", mk: run(func(r *dag.Run, a bool) { r.Network = pick(a, "none", "") }), opt: network("none"), hit: true},
		{name: "run: env", mk: run(func(r *dag.Run, a bool) { r.Env = []string{pick(a, "A=1", "A=2")} })},
		{name: "run: build arg in scope", mk: run(func(r *dag.Run, a bool) {
			if a {
				r.Env = []string{"GIT_SHA=abc"}
			}
		})},
		{name: "run: user", mk: run(func(r *dag.Run, a bool) { r.User = pick(a, "", "1000") })},
		{name: "run: workdir", mk: run(func(r *dag.Run, a bool) { r.Dir = pick(a, "/", "/w") })},
		{name: "run: args", mk: run(func(r *dag.Run, a bool) { r.Args[2] = pick(a, "write /r r", "write /r s") })},
		{name: "run: cache mount target", mk: run(func(r *dag.Run, a bool) {
			r.Mounts = []dag.RunMount{{Type: "cache", Target: pick(a, "/c1", "/c2"), UID: -1, GID: -1}}
		})},
		{name: "run: cache mount id", mk: run(func(r *dag.Run, a bool) {
			r.Mounts = []dag.RunMount{{Type: "cache", Target: "/c", ID: pick(a, "x", "y"), UID: -1, GID: -1}}
		})},
		{name: "run: secret id", mk: run(func(r *dag.Run, a bool) {
			r.Mounts = []dag.RunMount{{Type: "secret", ID: pick(a, "s1", "s2"), UID: -1, GID: -1}}
		}), opt: func(bool) func(*builder.Builder) {
			return func(b *builder.Builder) { b.Secrets = map[string][]byte{"s1": []byte("x"), "s2": []byte("x")} }
		}},
		{name: "run: secret contents", mk: run(func(r *dag.Run, a bool) {
			r.Mounts = []dag.RunMount{{Type: "secret", ID: "s", UID: -1, GID: -1}}
		}), opt: func(after bool) func(*builder.Builder) {
			return func(b *builder.Builder) { b.Secrets = map[string][]byte{"s": []byte(pick(after, "one", "two"))} }
		}, hit: true},
		// Issue 12's audit: BuildKit keys the content a bind mount reads
		// from the context; before the fix a changed file mounted into a
		// RUN was reused as cached.
		{name: "run: bind-mounted context file content", mk: run(func(r *dag.Run, _ bool) {
			r.Mounts = []dag.RunMount{{Type: "bind", Source: "f", Target: "/m", UID: -1, GID: -1}}
		}), between: func(t *testing.T, e *env) { e.write("f", "changed") }},
		{name: "run: bind-mounted context file mtime", mk: run(func(r *dag.Run, _ bool) {
			r.Mounts = []dag.RunMount{{Type: "bind", Source: "f", Target: "/m", UID: -1, GID: -1}}
		}), between: func(t *testing.T, e *env) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(e.ctxDir, "f"), later, later); err != nil {
				t.Fatal(err)
			}
		}, hit: true},
		{name: "run: bind-mounted whole context", mk: run(func(r *dag.Run, _ bool) {
			r.Mounts = []dag.RunMount{{Type: "bind", Source: "/", Target: "/m", UID: -1, GID: -1}}
		}), between: func(t *testing.T, e *env) { e.write("g", "new") }},
		{name: "run: another context file than the bind-mounted one", mk: run(func(r *dag.Run, _ bool) {
			r.Mounts = []dag.RunMount{{Type: "bind", Source: "f", Target: "/m", UID: -1, GID: -1}}
		}), between: func(t *testing.T, e *env) { e.write("g", "new") }, hit: true},
		{name: "run: bind mount from a stage that changed", mk: func(g *graph, a bool) *dag.Vertex {
			side := g.run(g.from("side"), pick(a, "write /s 1", "write /s 2"))
			op := shRun("write /r r")
			op.Mounts = []dag.RunMount{{Type: "bind", From: "side", Input: 1, Source: "/", Target: "/m", UID: -1, GID: -1}}
			return g.add(g.from("main"), "", op, "RUN write /r r", side)
		}},
		// A stage's name is a label: the same stage under another name is
		// the same input (BuildKit keys inputs by their definition).
		{name: "run: bind mount from a renamed stage", mk: func(g *graph, a bool) *dag.Vertex {
			name := pick(a, "side", "renamed")
			side := g.run(g.from(name), "write /s 1")
			op := shRun("write /r r")
			op.Mounts = []dag.RunMount{{Type: "bind", From: name, Input: 1, Source: "/", Target: "/m", UID: -1, GID: -1}}
			return g.add(g.from("main"), "", op, "RUN write /r r", side)
		}, hit: true},
		{name: "run: extra hosts", mk: run(func(*dag.Run, bool) {}), opt: func(after bool) func(*builder.Builder) {
			return func(b *builder.Builder) {
				if after {
					b.Hosts = []byte("127.0.0.1 localhost\n10.0.0.1 db\n")
				}
			}
		}},
		// SOURCE_DATE_EPOCH clamps the timestamps in a step's layer: a
		// record made without it must not be reused with it.
		{name: "run: SOURCE_DATE_EPOCH", mk: run(func(*dag.Run, bool) {}), opt: func(after bool) func(*builder.Builder) {
			return func(b *builder.Builder) {
				if after {
					epoch := time.Unix(1700000000, 0)
					b.Epoch = &epoch
				}
			}
		}},
		{name: "copy: SOURCE_DATE_EPOCH", mk: cp(func(*dag.Copy, bool) {}), opt: func(after bool) func(*builder.Builder) {
			return func(b *builder.Builder) {
				if after {
					epoch := time.Unix(1700000000, 0)
					b.Epoch = &epoch
				}
			}
		}},
		// BuildKit keys the exec op's security mode.
		{name: "run: security mode", mk: run(func(r *dag.Run, a bool) { r.Security = pick(a, "", "insecure") }),
			opt: func(bool) func(*builder.Builder) {
				return func(b *builder.Builder) { b.Allow = []string{builder.EntitlementSecurityInsecure} }
			}},
		{name: "run: proxy variable", mk: run(func(r *dag.Run, a bool) { r.Env = []string{pick(a, "http_proxy=a", "http_proxy=b")} }), hit: true},
		{name: "run: progress name", mk: func(g *graph, a bool) *dag.Vertex {
			v := g.run(g.from("main"), "write /r r")
			v.Name = pick(a, "[main 1/2] RUN write /r r", "[other 7/9] RUN write /r r")
			return v
		}, hit: true},

		// FROM
		{name: "from: same digest, another name", mk: fromRun(func(a bool) (string, v1.Hash, string) {
			return pick(a, "docker.io/library/debian:bookworm", "127.0.0.1:5000/library/debian:bookworm"), digestA, "linux/amd64"
		}), hit: true},
		{name: "from: same name, another digest", mk: fromRun(func(a bool) (string, v1.Hash, string) {
			if a {
				return "debian:bookworm", digestB, "linux/amd64"
			}
			return "debian:bookworm", digestA, "linux/amd64"
		})},
		{name: "from: no digest, another name", mk: fromRun(func(a bool) (string, v1.Hash, string) {
			return pick(a, "debian:bookworm", "alpine:3.20"), v1.Hash{}, "linux/amd64"
		})},
		{name: "from: platform", mk: fromRun(func(a bool) (string, v1.Hash, string) {
			return "debian:bookworm", digestA, pick(a, "linux/amd64", "linux/arm64")
		})},

		// COPY
		{name: "copy: source content", mk: cp(func(*dag.Copy, bool) {}), between: func(t *testing.T, e *env) { e.write("f", "changed") }},
		{name: "copy: source mode", mk: cp(func(*dag.Copy, bool) {}), between: func(t *testing.T, e *env) {
			if err := os.Chmod(filepath.Join(e.ctxDir, "f"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "copy: source mtime", mk: cp(func(*dag.Copy, bool) {}), between: func(t *testing.T, e *env) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(e.ctxDir, "f"), later, later); err != nil {
				t.Fatal(err)
			}
		}, hit: true},
		// Context files are copied as 0:0 (Docker, BuildKit): their owner
		// on the host changes nothing in the image.
		{name: "copy: context file owner", mk: cp(func(*dag.Copy, bool) {}), between: func(t *testing.T, e *env) {
			if err := os.Lchown(filepath.Join(e.ctxDir, "f"), 1234, 1234); err != nil {
				t.Fatal(err)
			}
		}, hit: true},
		{name: "copy: dest", mk: cp(func(c *dag.Copy, a bool) { c.Dest = pick(a, "/d/", "/e/") })},
		{name: "copy: --chown", mk: cp(func(c *dag.Copy, a bool) { c.Chown = pick(a, "", "1000:1000") })},
		{name: "copy: --chmod", mk: cp(func(c *dag.Copy, a bool) { c.Chmod = pick(a, "", "0600") })},
		{name: "copy: --link", mk: cp(func(c *dag.Copy, a bool) { c.Link = a })},
		{name: "copy: --from stage changed", mk: func(g *graph, a bool) *dag.Vertex {
			side := g.run(g.from("side"), pick(a, "write /s 1", "write /s 2"))
			return g.copyFrom(g.from("main"), side, "/s", "/s")
		}},
		{name: "copy: --from a renamed stage", mk: func(g *graph, a bool) *dag.Vertex {
			side := g.run(g.from(pick(a, "side", "renamed")), "write /s 1")
			return g.copyFrom(g.from("main"), side, "/s", "/s")
		}, hit: true},
		{name: "copy: --from stage owner changed", mk: func(g *graph, a bool) *dag.Vertex {
			op := shRun("write /s 1")
			op.User = pick(a, "", "1000")
			side := g.runOp(g.from("side"), op)
			return g.copyFrom(g.from("main"), side, "/s", "/s")
		}},
		{name: "copy: parent changed", mk: func(g *graph, a bool) *dag.Vertex {
			v := g.run(g.from("main"), pick(a, "write /p 1", "write /p 2"))
			return g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/d/"})
		}},
		{name: "copy --link: parent changed", mk: func(g *graph, a bool) *dag.Vertex {
			v := g.run(g.from("main"), pick(a, "write /p 1", "write /p 2"))
			return g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/d/", Link: true})
		}, hit: true},
		{name: "copy --link --chown=uid: parent changed", mk: func(g *graph, a bool) *dag.Vertex {
			v := g.run(g.from("main"), pick(a, "write /p 1", "write /p 2"))
			return g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/d/", Link: true, Chown: "1000:1000"})
		}, hit: true},
		// A user name is looked up in the parent's /etc/passwd.
		{name: "copy --link --chown=name: parent changed", mk: func(g *graph, a bool) *dag.Vertex {
			v := g.run(g.from("main"), pick(a, "write /etc/passwd app:x:1000:1000::/:/bin/sh", "write /etc/passwd app:x:1001:1001::/:/bin/sh"))
			return g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/d/", Link: true, Chown: "app"})
		}},
		{name: "copy --link: content", mk: cp(func(c *dag.Copy, _ bool) { c.Link = true }), between: func(t *testing.T, e *env) { e.write("f", "changed") }},

		// WORKDIR
		{name: "workdir: user", mk: func(g *graph, a bool) *dag.Vertex {
			return g.add(g.from("main"), "", &dag.Mkdir{Path: "/w", User: pick(a, "", "1000")}, "WORKDIR /w")
		}},
		{name: "workdir: path", mk: func(g *graph, a bool) *dag.Vertex { return g.workdir(g.from("main"), pick(a, "/w", "/x")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"f": "file"})
			opts := func(after bool) []func(*builder.Builder) {
				// Host networking is an entitlement; the key tests grant it.
				o := []func(*builder.Builder){withImages, func(b *builder.Builder) { b.Allow = []string{builder.EntitlementNetworkHost} }}
				if tc.opt != nil {
					o = append(o, tc.opt(after))
				}
				return o
			}
			first := tc.mk(&graph{}, false)
			r1, _, _ := e.mustBuild(first, opts(false)...)
			if tc.between != nil {
				tc.between(t, e)
			}
			second := tc.mk(&graph{}, true)
			r2, ev, _ := e.mustBuild(second, opts(true)...)
			s1, s2 := r1.Steps[first], r2.Steps[second]
			if s2.Cached != tc.hit {
				t.Errorf("second build: cached %v, want %v (started %v)", s2.Cached, tc.hit, ev.started())
			}
			if (s1.Key == s2.Key) != tc.hit {
				t.Errorf("keys %s then %s: equal %v, want %v", s1.Key, s2.Key, s1.Key == s2.Key, tc.hit)
			}
		})
	}
}

// TestCopyLinkRebase reproduces issue 12's COPY --link findings: before
// the fix, changing an earlier RUN re-ran the COPY --link ("parent step
// re-ran") and changed its layer, and the linked files landed in the
// parent's directories as they were. Now the linked layer is made on an
// empty base: an earlier step changing keeps its record and layer digest,
// the step after it still sees both the parent's files and the linked
// ones, and a directory the copy creates is 0755 root:root in the result
// (BuildKit's tree), whatever an earlier step made there.
func TestCopyLinkRebase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: an earlier step makes a directory owned by another user")
	}
	e := newEnv(t, map[string]string{"f": "file"})
	var seen os.FileInfo
	e.runner.funcs["check"] = func(_ context.Context, root string) error {
		for _, p := range []string{"opt/app/f", "opt/x"} {
			if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
				return err
			}
		}
		fi, err := os.Lstat(filepath.Join(root, "opt/app"))
		seen = fi
		return err
	}
	for _, x := range []string{"1", "2"} {
		e.runner.funcs["prep "+x] = func(_ context.Context, root string) error {
			if err := os.MkdirAll(filepath.Join(root, "opt/app"), 0o700); err != nil {
				return err
			}
			if err := os.Lchown(filepath.Join(root, "opt/app"), 1000, 1000); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(root, "opt/x"), []byte(x), 0o644)
		}
	}
	mk := func(x string) (*dag.Vertex, *dag.Vertex) {
		g := &graph{}
		v := g.run(g.from("main"), "prep "+x)
		link := g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/opt/app/", Link: true})
		return link, g.run(link, "check")
	}
	link1, target1 := mk("1")
	r1, _, _ := e.mustBuild(target1)
	link2, target2 := mk("2")
	r2, ev, n := e.mustBuild(target2)
	s1, s2 := r1.Steps[link1], r2.Steps[link2]
	if !s2.Cached {
		t.Errorf("COPY --link re-ran after an earlier step changed: %q", s2.Reason)
	}
	if s1.Layer == nil || s2.Layer == nil || s1.Layer.Digest != s2.Layer.Digest || s1.Key != s2.Key {
		t.Errorf("COPY --link layer %v key %s, then %v key %s; want the same", s1.Layer, s1.Key, s2.Layer, s2.Key)
	}
	if n != 2 {
		t.Errorf("second build ran %d steps (%v), want 2: the changed RUN and the one after the link", n, ev.started())
	}
	if r2.Steps[target2].Key == r1.Steps[target1].Key {
		t.Errorf("the step after the link kept its key though an earlier step changed")
	}
	if seen == nil {
		t.Fatal("check did not run")
	}
	st := seen.Sys().(*syscall.Stat_t)
	if seen.Mode().Perm() != 0o755 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("/opt/app after COPY --link: %v %d:%d, want 0755 0:0", seen.Mode().Perm(), st.Uid, st.Gid)
	}
}

// otherMachine is an imported cache: the records and blobs of another
// env's state, as --cache-from gives them (no snapshots).
type otherMachine struct {
	c  *cache.Cache
	st *store.Store
}

func (o otherMachine) Get(k cache.Key) (cache.Record, bool) {
	r, err := o.c.Get(k)
	if err != nil {
		return cache.Record{}, false
	}
	r.Snapshot = ""
	return r, true
}

func (o otherMachine) Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
	return o.st.Layer(desc, diffID)
}

// TestCopyLinkFromImportedCache: a COPY --link another machine built is
// reused from its imported record after an earlier step changed here, and
// the step after it sees the linked files over this build's parent.
func TestCopyLinkFromImportedCache(t *testing.T) {
	other := newEnv(t, map[string]string{"f": "file"})
	mk := func(x string) (*dag.Vertex, *dag.Vertex) {
		g := &graph{}
		v := g.run(g.from("main"), "write /opt/x "+x)
		link := g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/opt/app/", Link: true})
		return link, g.run(link, "exists /opt/app/f && exists /opt/x && write /done y")
	}
	link1, target1 := mk("1")
	r1, _, _ := other.mustBuild(target1)

	here := newEnv(t, map[string]string{"f": "file"})
	c, err := cache.Open(filepath.Join(other.state, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(other.state, "store"))
	if err != nil {
		t.Fatal(err)
	}
	link2, target2 := mk("2")
	r2, ev, _ := here.mustBuild(target2, func(b *builder.Builder) { b.Remote = []builder.RemoteCache{otherMachine{c, st}} })
	s1, s2 := r1.Steps[link1], r2.Steps[link2]
	if !s2.Cached || s2.Layer == nil || s1.Layer.Digest != s2.Layer.Digest {
		t.Errorf("COPY --link: cached %v layer %v, want the imported layer %v (started %v)", s2.Cached, s2.Layer, s1.Layer, ev.started())
	}
	if r2.Steps[target2].Cached {
		t.Errorf("the step after the link was cached though its parent chain changed")
	}
}

// TestCopyLinkOverDirectory: COPY --link f /opt/app, where an earlier
// step made /opt/app a directory, is made on an empty base (BuildKit):
// /opt/app is the file in the result, not /opt/app/f.
func TestCopyLinkOverDirectory(t *testing.T) {
	e := newEnv(t, map[string]string{"f": "file"})
	var isFile bool
	e.runner.funcs["look"] = func(_ context.Context, root string) error {
		fi, err := os.Lstat(filepath.Join(root, "opt/app"))
		if err != nil {
			return err
		}
		isFile = fi.Mode().IsRegular()
		return nil
	}
	g := &graph{}
	v := g.run(g.from("main"), "mkdir /opt/app && write /opt/app/old x")
	v = g.copyOp(v, &dag.Copy{Sources: []string{"f"}, Dest: "/opt/app", Link: true})
	e.mustBuild(g.run(v, "look"))
	if !isFile {
		t.Errorf("/opt/app after COPY --link f /opt/app over a directory: not the file")
	}
}
