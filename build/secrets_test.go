package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a,b.txt") // a comma: the field is quoted whole
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BLD_TEST_SECRET", "from-env")
	t.Setenv("tok", "by-id")
	got, err := ParseSecrets([]string{
		`id=f,"src=` + file + `"`,
		"id=e,env=BLD_TEST_SECRET",
		"id=t,type=env,src=BLD_TEST_SECRET",
		"id=tok",
		`ID=s, "source=` + file + `", type=file`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"f": "from-file", "e": "from-env", "t": "from-env", "tok": "by-id", "s": "from-file"}
	for id, v := range want {
		if string(got[id]) != v {
			t.Errorf("secret %s = %q, want %q", id, got[id], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d secrets, want %d", len(got), len(want))
	}
	for _, tc := range []struct{ spec, want string }{
		{"id=x,colour=red", `unknown key "colour"`},
		{"src=/etc/hostname", "id is required"},
		{"id=x,type=ssh", "type=ssh"},
		{"id=x,env=BLD_NO_SUCH_VAR", "BLD_NO_SUCH_VAR is not set"},
		{"id=x,src=" + filepath.Join(dir, "missing"), "missing"},
		{"justaword", "not key=value"},
	} {
		if _, err := ParseSecrets([]string{tc.spec}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSecrets(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}
