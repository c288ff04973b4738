package conformance

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// The rootless side: every case is built a second time by bld run as an
// ordinary user with subordinate ranges (testutil.NewUser), from the
// user's own copy of the context, into the user's own store. A case that
// fails as root must fail the same way; one that builds must give the
// image root's build gave, digest for digest (both with SOURCE_DATE_EPOCH
// and the same base tarball), unless its case.json says why no user
// namespace can build it (rootless_expect_error, rootless_note). Where the digests differ the trees are
// compared, so the failure says what differs.

// setupRootless makes the suite's user, the base tarball and a bld the
// user can run, and gives /dev/net/tun the kernel's mode for the suite
// (the rootless default network opens it; testutil.TunMode).
func (s *suite) setupRootless(t *testing.T) {
	t.Helper()
	testutil.RequireTool(t, "slirp4netns")
	s.user = testutil.NewUser(t, true)
	testutil.TunMode(t, 0o666)
	s.baseTar = filepath.Join(s.user.Home, "busybox.tar")
	testutil.Run(t, "tar", "-C", s.rootfs, "--numeric-owner", "-cf", s.baseTar, ".")
	s.userBld = filepath.Join(s.user.Home, "bld")
	testutil.Run(t, "cp", s.bld, s.userBld)
	if err := os.Mkdir(filepath.Join(s.user.Home, "cases"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.user.Chown(t, s.user.Home)
}

// checkRootless builds the case rootless and compares it with root's
// build (work/bld.tar, unpacked as rootImg, or its failure).
func (s *suite) checkRootless(t *testing.T, tc *testCase, r *runner, opts buildOpts, work string, rootImg *image) {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(s.user.Home, "cases", tc.name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The user's copy of what the build reads: the context as setup.sh
	// left it (cp -a: modes, mtimes, links), the Dockerfile and the
	// ignore file next to it, the secrets.
	testutil.Run(t, "cp", "-a", opts.context, filepath.Join(dir, "context"))
	ents, err := os.ReadDir(tc.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), caseDockerfile) {
			testutil.Run(t, "cp", filepath.Join(tc.dir, e.Name()), dir)
		}
	}
	o := opts
	o.context = filepath.Join(dir, "context")
	o.dockerfile = filepath.Join(dir, filepath.Base(tc.dockerfile))
	o.secrets = map[string]string{}
	for id, f := range opts.secrets {
		o.secrets[id] = filepath.Join(dir, "secret-"+id)
		testutil.Run(t, "cp", f, o.secrets[id])
	}
	s.user.Chown(t, dir)

	d := &bld{r: r, bin: s.userBld, root: filepath.Join(dir, "root"), user: s.user}
	if err := d.importBase(ctx, s.baseTar); err != nil {
		t.Fatalf("rootless bld import: %v", err)
	}
	out := filepath.Join(dir, "bld.tar")
	output, err := d.build(ctx, o, out)
	if want := tc.spec.RootlessExpectError; len(want) > 0 {
		if err == nil || !exitedNonZero(err) {
			t.Errorf("rootless bld: want the build to fail (%s), got %v", tc.spec.RootlessNote, err)
			return
		}
		for _, sub := range want {
			if !strings.Contains(output, sub) {
				t.Errorf("rootless bld: error output does not contain %q:\n%s", sub, tail(output, 20))
			}
		}
		return
	}
	if len(tc.spec.ExpectError) > 0 {
		if err == nil || !exitedNonZero(err) {
			t.Errorf("rootless bld: want the build to fail as root's did, got %v", err)
			return
		}
		for _, sub := range tc.spec.ExpectError {
			if !strings.Contains(output, sub) {
				t.Errorf("rootless bld: error output does not contain %q:\n%s", sub, tail(output, 20))
			}
		}
		return
	}
	if err != nil {
		t.Errorf("rootless bld: the build failed, root's did not: %v", err)
		return
	}
	rootDigest, err := manifestDigest(filepath.Join(work, "bld.tar"))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := manifestDigest(out)
	if err != nil {
		t.Fatalf("rootless bld: %v", err)
	}
	if digest == rootDigest {
		return
	}
	img, err := unpackOCITar(ctx, r, out, filepath.Join(work, "rootless"))
	if err != nil {
		t.Fatalf("rootless bld: unpack output: %v", err)
	}
	if d := compare(img, &reference{img: rootImg}, nil); len(d) > 0 {
		t.Errorf("rootless bld's image differs from root bld's (BLD column: rootless, WANT: root):\n%s", table(d))
	} else {
		t.Errorf("rootless bld's image is %s, root bld's %s: same files and config, different bytes (mtimes, history or layer order)", digest, rootDigest)
	}
}

// manifestDigest is the digest of the single manifest in an OCI layout
// tarball's index.json.
func manifestDigest(ociTar string) (string, error) {
	f, err := os.Open(ociTar)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: no index.json", ociTar)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", ociTar, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "index.json" {
			continue
		}
		var idx struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&idx); err != nil {
			return "", fmt.Errorf("%s: index.json: %w", ociTar, err)
		}
		if len(idx.Manifests) != 1 {
			return "", fmt.Errorf("%s: index.json has %d manifests, want 1", ociTar, len(idx.Manifests))
		}
		return idx.Manifests[0].Digest, nil
	}
}
