package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCasesLoad checks every case directory without building anything, so
// a malformed case.json fails even where the suite itself is skipped.
func TestCasesLoad(t *testing.T) {
	cases, err := loadCases(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases under %s", casesDir)
	}
	for _, tc := range cases {
		if _, err := applyExpect(&image{fs: tree{}}, tc.spec.Expect); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func file(mode uint32, content string) *entry {
	return &entry{Type: "file", Mode: mode, Size: int64(len(content)), SHA256: sha(content)}
}

func sha(s string) string {
	ref, _ := applyExpect(nil, expectation{Paths: map[string]pathExpect{"/x": {Content: &s}}})
	return ref.img.fs["/x"].SHA256
}

func ptr[T any](v T) *T { return &v }

func TestCompare(t *testing.T) {
	buildah := &image{
		fs: tree{
			"/a":       file(0o644, "a"),
			"/d":       {Type: "dir", Mode: 0o755},
			"/stub":    {Type: "dir", Mode: 0o755},
			"/suid":    file(0o755, "s"),
			"/buildah": file(0o644, "only in buildah"),
		},
		config: imageConfig{ExposedPorts: []string{"8000-8001/tcp"}, Env: []string{"A=1", "B=2"}},
	}
	exp := expectation{
		Paths: map[string]pathExpect{
			"/stub":    {Exists: ptr(false)},
			"/suid":    {Mode: ptr("4755")},
			"/new":     {Type: ptr("dir"), UID: ptr(1000)},
			"/content": {Content: ptr("hi\n")},
		},
		Config: map[string]json.RawMessage{"ExposedPorts": json.RawMessage(`["8000/tcp","8001/tcp"]`)},
	}
	ref, err := applyExpect(buildah, exp)
	if err != nil {
		t.Fatal(err)
	}

	bld := &image{
		fs: tree{
			"/a":       file(0o600, "a"),                      // mode differs from buildah
			"/d":       {Type: "dir", Mode: 0o755},            // same
			"/stub":    {Type: "dir", Mode: 0o755},            // must not exist
			"/suid":    file(0o4755, "s"),                     // as expected
			"/new":     {Type: "dir", Mode: 0o700, UID: 1000}, // mode not expected: not compared
			"/content": file(0o644, "hi\n"),                   // as expected
			"/extra":   {Type: "symlink", Mode: 0o777, Target: "x"},
		},
		config: imageConfig{ExposedPorts: []string{"8000/tcp", "8001/tcp"}, Env: []string{"A=1", "C=3"}},
	}
	got := compare(bld, ref, nil)
	want := []diff{
		{"/a", "mode", "0600", "0644", "buildah"},
		{"/buildah", "exists", "no", "yes (file)", "buildah"},
		{"/extra", "exists", "yes (symlink)", "no", "buildah"},
		{"/stub", "exists", "yes (dir)", "no", "expect"},
		{"(config)", "Env", `only: ["C=3"]`, `only: ["B=2"]`, "buildah"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compare:\n%s\nwant:\n%s", table(got), table(want))
	}

	// Ignored paths drop out on both sides.
	got = compare(bld, ref, []string{"/a", "/buildah/", "/extra", "/stub"})
	if len(got) != 1 || got[0].Field != "Env" {
		t.Errorf("compare with ignore:\n%s", table(got))
	}

	// Without buildah only the expectations are compared.
	partial, err := applyExpect(nil, exp)
	if err != nil {
		t.Fatal(err)
	}
	got = compare(bld, partial, nil)
	want = []diff{{"/stub", "exists", "yes (dir)", "no", "expect"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compare without buildah:\n%s\nwant:\n%s", table(got), table(want))
	}
}

func TestStaleExpectations(t *testing.T) {
	buildah := &image{fs: tree{"/f": file(0o644, "x")}}
	exp := expectation{Paths: map[string]pathExpect{
		"/f":         {Mode: ptr("0644")},  // buildah has it already: stale
		"/gone":      {Exists: ptr(false)}, // buildah lacks it too: stale
		"/etc/hosts": {Exists: ptr(false)}, // a buildah stub, removed before: not reported
		"/different": {Content: ptr("y")},
	}}
	got := staleExpectations(buildah, exp)
	want := []string{"/f", "/gone exists:false"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("staleExpectations = %q, want %q", got, want)
	}
}

func TestNormaliseBuildahStubs(t *testing.T) {
	tr := tree{
		"/etc/hosts":       {Type: "file", Mode: 0o755},            // buildah's stub
		"/etc/resolv.conf": {Type: "file", Mode: 0o644, Size: 20},  // real content: kept
		"/etc/hostname":    {Type: "file", Mode: 0o755, UID: 1000}, // not root's: kept
	}
	normaliseBuildahStubs(tr)
	if _, ok := tr["/etc/hosts"]; ok {
		t.Error("empty 0755 /etc/hosts stub was kept")
	}
	if len(tr) != 2 {
		t.Errorf("kept %d entries, want 2", len(tr))
	}
}

func TestWalkTree(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "d/sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d/f"), []byte("hello"), 0o644))
	must(os.Chmod(filepath.Join(dir, "d/f"), 0o755|os.ModeSetuid))
	must(os.Link(filepath.Join(dir, "d/f"), filepath.Join(dir, "d/sub/g")))
	must(os.Symlink("../f", filepath.Join(dir, "d/sub/l")))

	tr, err := walkTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := tr["/d/f"]
	if f == nil || f.Type != "file" || f.Mode != 0o4755 || f.Size != 5 || f.Links != "/d/sub/g" {
		t.Errorf("/d/f = %+v", f)
	}
	if g := tr["/d/sub/g"]; g == nil || g.Links != "/d/f" {
		t.Errorf("/d/sub/g = %+v", g)
	}
	if l := tr["/d/sub/l"]; l == nil || l.Type != "symlink" || l.Target != "../f" {
		t.Errorf("/d/sub/l = %+v", l)
	}
	if _, ok := tr["/"]; ok {
		t.Error("the root itself is in the tree")
	}
}

func TestListDelta(t *testing.T) {
	for _, tc := range []struct{ got, want, g, w string }{
		{`["a","b"]`, `["a","c"]`, `only: ["b"]`, `only: ["c"]`},
		{`["a","b"]`, `["b","a"]`, `["a","b"]`, `["b","a"]`},
		{`"x"`, `"y"`, `"x"`, `"y"`},
		{`null`, `["a"]`, `null`, `["a"]`},
	} {
		g, w := listDelta(tc.got, tc.want)
		if g != tc.g || w != tc.w {
			t.Errorf("listDelta(%s, %s) = %s, %s; want %s, %s", tc.got, tc.want, g, w, tc.g, tc.w)
		}
	}
}

func TestTable(t *testing.T) {
	out := table([]diff{{"/p", "mode", "0644", "0755", "buildah"}})
	if !strings.Contains(out, "PATH") || !strings.Contains(out, "/p") || !strings.Contains(out, "0755") {
		t.Errorf("table:\n%s", out)
	}
}
