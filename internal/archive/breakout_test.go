package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hdr is a tar entry for the tests. "@" in a name or link target stands
// for the directory holding the root, the canary and the lower dir.
type hdr struct {
	name string
	typ  byte
	link string
	body string
	mode int64
}

func tarOf(t testing.TB, at string, hs ...hdr) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		th := &tar.Header{Name: strings.ReplaceAll(h.name, "@", at), Typeflag: h.typ, Linkname: strings.ReplaceAll(h.link, "@", at),
			Mode: h.mode, ModTime: time.Unix(1e9, 0), Format: tar.FormatPAX}
		if th.Typeflag == 0 {
			th.Typeflag = tar.TypeReg
		}
		if th.Mode == 0 {
			th.Mode = 0o644
			if th.Typeflag == tar.TypeDir {
				th.Mode = 0o755
			}
		}
		if th.Typeflag == tar.TypeReg {
			th.Size = int64(len(h.body))
		}
		if err := tw.WriteHeader(th); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(h.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// breakouts is the one catalogue of archives that try to read or write
// outside the root (merged from snapshot's apply tests and fscopy's ADD
// cases). Each is confined or refused with an error naming the entry.
var breakouts = []struct {
	name    string
	entries []hdr
	// errName is the entry an error must name; "" if it must succeed.
	errName string
	// whiteoutErr: the error is required only where whiteouts are
	// applied or converted (elsewhere ".wh.." is a plain file name).
	whiteoutErr bool
	// deviceErr: the error is required only where devices are made.
	deviceErr bool
	// inside is a path that must exist inside the root afterwards
	// (unless it is a device and devices are skipped).
	inside string
}{
	{name: "dotdot", entries: []hdr{{name: "../../x", body: "x"}}, errName: "../../x"},
	{name: "dotdot-inner", entries: []hdr{{name: "a/../../x", body: "x"}}, errName: "a/../../x"},
	{name: "dotdot-deep", entries: []hdr{{name: "a/../../../canary/file", body: "PWNED"}}, errName: "a/../../../canary/file"},
	{name: "absolute", entries: []hdr{{name: "/abs", body: "x"}}, inside: "abs"},
	{name: "absolute-host-path", entries: []hdr{{name: "@/canary/file", body: "PWNED"}}},
	{name: "symlink-to-root", entries: []hdr{{name: "a", typ: tar.TypeSymlink, link: "/"}, {name: "a/etc/x", body: "x"}}, inside: "etc/x"},
	{name: "symlink-dotdot", entries: []hdr{{name: "b", typ: tar.TypeSymlink, link: "../.."}, {name: "b/y", body: "y"}}, inside: "y"},
	{name: "symlink-to-canary", entries: []hdr{{name: "c", typ: tar.TypeSymlink, link: "../canary"}, {name: "c/file", body: "PWNED"}}, inside: "canary/file"},
	{name: "symlink-host-absolute", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "l/file", body: "PWNED"}}},
	{name: "symlink-host-absolute-dir", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "l/sub/", typ: tar.TypeDir}}},
	{name: "symlink-chain", entries: []hdr{
		{name: "s1", typ: tar.TypeSymlink, link: "s2/.."},
		{name: "s2", typ: tar.TypeSymlink, link: "../../../canary"},
		{name: "s1/evil", body: "x"},
	}},
	{name: "replace-symlink-file", entries: []hdr{{name: "f", typ: tar.TypeSymlink, link: "../canary/file"}, {name: "f", body: "overwritten"}}, inside: "f"},
	{name: "replace-host-symlink-file", entries: []hdr{{name: "s", typ: tar.TypeSymlink, link: "@/canary/file"}, {name: "s", body: "PWNED"}}, inside: "s"},
	{name: "dir-then-symlink", entries: []hdr{{name: "d/", typ: tar.TypeDir}, {name: "d", typ: tar.TypeSymlink, link: "/../canary"}, {name: "d/z", body: "z"}}, inside: "canary/z"},
	{name: "hardlink-etc-passwd", entries: []hdr{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, errName: "h"},
	{name: "hardlink-outside", entries: []hdr{{name: "h", typ: tar.TypeLink, link: "../canary/file"}}, errName: "h"},
	{name: "hardlink-through-symlink", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "../canary"}, {name: "h", typ: tar.TypeLink, link: "l/file"}}, errName: "h"},
	{name: "hardlink-through-host-symlink", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "h", typ: tar.TypeLink, link: "l/file"}}, errName: "h"},
	{name: "hardlink-to-symlink", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "../canary/file"}, {name: "h", typ: tar.TypeLink, link: "l"}}, inside: "h"},
	{name: "hardlink-to-symlink-then-write", entries: []hdr{
		{name: "l", typ: tar.TypeSymlink, link: "@/canary/file"}, {name: "h", typ: tar.TypeLink, link: "l"}, {name: "h", body: "PWNED"}}, inside: "h"},
	{name: "whiteout-dotdot", entries: []hdr{{name: "../.wh.canary"}}, errName: "../.wh.canary"},
	{name: "whiteout-of-dotdot", entries: []hdr{{name: "x/.wh.."}}, errName: "x/.wh..", whiteoutErr: true},
	{name: "whiteout-through-symlink", entries: []hdr{{name: "w", typ: tar.TypeSymlink, link: "../canary"}, {name: "w/.wh.file"}}},
	{name: "whiteout-through-host-symlink", entries: []hdr{{name: "w", typ: tar.TypeSymlink, link: "@/canary"}, {name: "w/.wh.file"}}},
	{name: "opaque-through-symlink", entries: []hdr{{name: "o", typ: tar.TypeSymlink, link: "../../canary"}, {name: "o/.wh..wh..opq"}}},
	{name: "opaque-root-via-symlink", entries: []hdr{{name: "keep", body: "k"}, {name: "r", typ: tar.TypeSymlink, link: "/"}, {name: "r/.wh..wh..opq"}}},
	{name: "device-through-symlink", entries: []hdr{{name: "v", typ: tar.TypeSymlink, link: "../canary"}, {name: "v/null", typ: tar.TypeChar}}, inside: "canary/null"},
	// Opening a fifo as a directory must fail, not block.
	{name: "fifo-as-dir", entries: []hdr{{name: "p", typ: tar.TypeFifo}, {name: "p/x", body: "x"}}, errName: "p/x", deviceErr: true},
	{name: "fifo-link-target", entries: []hdr{{name: "p", typ: tar.TypeFifo}, {name: "q", typ: tar.TypeLink, link: "p/x"}}, errName: "q"},
	{name: "symlink-expansion", entries: []hdr{{name: "x", typ: tar.TypeSymlink, link: "x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x"}, {name: "x/f", body: "f"}}, errName: "x/f"},
	{name: "root-entry-file", entries: []hdr{{name: ".", body: "x"}}, errName: "."},
	{name: "setuid-through-symlink", entries: []hdr{{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "l/su", body: "x", mode: 0o4755}}},
}

// optionSets are the Options every caller of Extract uses; a caller that
// adds a combination adds it here, so it inherits the catalogue.
func optionSets(lower string) map[string]Options {
	clamp := func(t time.Time) time.Time { return t.Truncate(time.Hour) }
	return map[string]Options{
		// snapshot: Apply on a native (copy-based) snapshot.
		"snapshot-native": {Whiteouts: WhiteoutApply, RootAttrs: true, Owners: true, Xattrs: XattrsSet},
		// snapshot: Apply into an overlay upper dir.
		"snapshot-overlay": {Whiteouts: WhiteoutOverlay, Lower: DirLowers([]string{lower}), RootAttrs: true, Owners: true, Xattrs: XattrsSet},
		// fscopy: ADD of a local archive, with --chown and SOURCE_DATE_EPOCH.
		"add": {Owners: true, MapOwner: func(u, g int) (int, int) { return u, g }, Xattrs: XattrsBestEffort,
			ModTime: clamp, ImpliedDirTime: time.Unix(1e9, 0), MaxBytes: 16 << 20},
		// exporter: --output type=local, default and preserve-ownership=true.
		"local":          {SkipDevices: true, LinksLast: true, StripSetuid: true},
		"local-preserve": {SkipDevices: true, LinksLast: true, Owners: true},
		// cache mounts: UnpackMount.
		"cache-mount": {Owners: true, SkipDevices: true},
	}
}

func closeLower(o Options) {
	if l, ok := o.Lower.(*Lowers); ok {
		l.Close()
	}
}

// sandbox makes parent/{canary,lower,root} and returns a function that
// reports any change outside root (including to the host's /etc/passwd).
func sandbox(t testing.TB) (parent, root, lower string, check func() string) {
	t.Helper()
	parent = scratchDir(t)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(parent, "canary/sub"), 0o755))
	must(os.WriteFile(filepath.Join(parent, "canary/file"), []byte("canary"), 0o644))
	must(os.MkdirAll(filepath.Join(parent, "lower/d/inner"), 0o750))
	must(os.WriteFile(filepath.Join(parent, "lower/d/f"), []byte("lower"), 0o644))
	must(os.Symlink("../../canary", filepath.Join(parent, "lower/esc")))
	root = filepath.Join(parent, "root")
	must(os.Mkdir(root, 0o755))
	outside := func() string {
		var b strings.Builder
		err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root || strings.HasPrefix(p, root+"/") {
				return nil // the root's own attributes are the archive's to set
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %o %d:%d %d %d\n", p, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink)
			if d.Type().IsRegular() {
				data, _ := os.ReadFile(p)
				fmt.Fprintf(&b, "  %x\n", sha256.Sum256(data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat("/etc/passwd", &st); err == nil {
			data, _ := os.ReadFile("/etc/passwd")
			sum := sha256.Sum256(data)
			fmt.Fprintf(&b, "/etc/passwd %o %d %d %d %s\n", st.Mode, st.Nlink, st.Size, st.Mtim.Nano(), hex.EncodeToString(sum[:]))
		}
		return b.String()
	}
	before := outside()
	return parent, root, filepath.Join(parent, "lower"), func() string {
		if after := outside(); after != before {
			return fmt.Sprintf("outside the root changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		ents, _ := os.ReadDir(parent)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if want := []string{"canary", "lower", "root"}; !slices.Equal(names, want) {
			return fmt.Sprintf("parent holds %q, want %q", names, want)
		}
		return ""
	}
}

// scratchDir returns a new directory, on tmpfs where /dev/shm is one:
// fuzzing makes and removes thousands of small trees, which is slow on
// disks mounted with discard.
func scratchDir(t testing.TB) string {
	t.Helper()
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "bld-archive-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: device nodes, owners and overlay xattrs")
	}
}

// TestBreakouts runs the catalogue against every caller's options.
func TestBreakouts(t *testing.T) {
	requireRoot(t)
	for _, setName := range slices.Sorted(maps.Keys(optionSets(""))) {
		for _, tc := range breakouts {
			t.Run(setName+"/"+tc.name, func(t *testing.T) {
				parent, root, lower, check := sandbox(t)
				opt := optionSets(lower)[setName]
				err := Extract(t.Context(), bytes.NewReader(tarOf(t, parent, tc.entries...)), root, opt)
				closeLower(opt)
				wantErr := tc.errName != ""
				if tc.whiteoutErr && opt.Whiteouts == WhiteoutFiles {
					wantErr = false
				}
				if tc.deviceErr && opt.SkipDevices {
					wantErr = false
				}
				if !wantErr && tc.errName == "" && err != nil {
					t.Errorf("Extract = %v, want it confined without error", err)
				}
				if wantErr && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.errName))) {
					t.Errorf("Extract = %v, want an error naming %q", err, tc.errName)
				}
				if tc.inside != "" && !(opt.SkipDevices && tc.name == "device-through-symlink") {
					if _, err := os.Lstat(filepath.Join(root, tc.inside)); err != nil {
						t.Errorf("confined entry missing: %v", err)
					}
				}
				if msg := check(); msg != "" {
					t.Error(msg)
				}
				// Nothing readable through the root leads to the canary.
				filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						if data, _ := os.ReadFile(p); string(data) == "canary" {
							t.Errorf("%s holds the canary's contents", p)
						}
					}
					return nil
				})
			})
		}
	}
}

// FuzzExtract: no archive makes Extract panic or touch anything outside
// the root, under any caller's options.
func FuzzExtract(f *testing.F) {
	requireRoot(f)
	for _, tc := range breakouts {
		f.Add(tarOf(f, "/tmp", tc.entries...))
	}
	f.Add(tarOf(f, "/tmp",
		hdr{name: "d/", typ: tar.TypeDir}, hdr{name: "d/.wh..wh..opq"}, hdr{name: "d/f", body: "f"},
		hdr{name: "l", typ: tar.TypeLink, link: "d/f"}, hdr{name: ".wh.gone"}, hdr{name: "s", typ: tar.TypeSymlink, link: "d"},
		hdr{name: "s/g", body: "g"}, hdr{name: "p", typ: tar.TypeFifo}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, root, lower, check := sandbox(t)
		sets := optionSets(lower)
		for _, name := range slices.Sorted(maps.Keys(sets)) {
			dir := filepath.Join(root, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			_ = Extract(context.Background(), bytes.NewReader(data), dir, sets[name])
			closeLower(sets[name])
		}
		if msg := check(); msg != "" {
			t.Fatal(msg)
		}
	})
}

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzExtract from the breakout catalogue")

// TestFuzzSeeds keeps the committed seed corpus in step with the
// catalogue: go test -run TestFuzzSeeds -update-fuzz-seeds ./internal/archive
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
	for _, tc := range breakouts {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tarOf(t, "/tmp", tc.entries...))
		p := filepath.Join(dir, "breakout-"+tc.name)
		if *updateFuzzSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("seed %s is missing or stale (%v); run with -update-fuzz-seeds", p, err)
		}
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"a/b", "a/b", false},
		{"./a/b/", "a/b", false},
		{"/abs/x", "abs/x", false},
		{"//x", "x", false},
		{"a/../b", "b", false},
		{".", "", false},
		{"/", "", false},
		{"..", "", true},
		{"../x", "", true},
		{"a/../../x", "", true},
		{"/../x", "", true},
		{"a\x00b", "", true},
		{strings.Repeat("a/", 3000), "", true},
	} {
		got, err := CleanName(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("CleanName(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// An overlay upper dir (snapshot's Apply): a dir the layer does not list
// but a lower has is created in the upper dir like the lower's, and
// whiteouts under a dir no layer has are dropped. Needs root (overlay
// whiteouts are device nodes).
func TestExtractOverlayImplicitDirs(t *testing.T) {
	requireRoot(t)
	_, root, lower, check := sandbox(t)
	opt := optionSets(lower)["snapshot-overlay"]
	defer closeLower(opt)
	layer := tarOf(t, "", hdr{name: "d/inner/new", body: "n"}, hdr{name: "d/.wh.f"}, hdr{name: "nowhere/.wh.x"}, hdr{name: "esc/.wh.file"})
	if err := Extract(t.Context(), bytes.NewReader(layer), root, opt); err != nil {
		t.Fatal(err)
	}
	var st, lst unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "d"), &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(lower, "d"), &lst); err != nil {
		t.Fatal(err)
	}
	if st.Mode != lst.Mode || st.Mtim != lst.Mtim {
		t.Errorf("implicit dir d: mode %o mtime %v, lower has %o %v", st.Mode, st.Mtim, lst.Mode, lst.Mtim)
	}
	if err := unix.Lstat(filepath.Join(root, "d/f"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("d/f is not an overlay whiteout: %o %v", st.Mode, err)
	}
	for _, p := range []string{"nowhere", "esc"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s created for a whiteout that hides nothing", p)
		}
	}
	if msg := check(); msg != "" {
		t.Error(msg)
	}
}
