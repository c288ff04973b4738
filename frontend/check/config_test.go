package check

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// bad fires RootUser (line 1), ShellFormAsPID1 and JSONArgsRecommended
// (line 3) and LayerExplosion (line 2).
const bad = "FROM alpine\nRUN apk add curl\nCMD node server.js\n"

func rules(fs []Finding) []string {
	var rs []string
	for _, f := range fs {
		if !slices.Contains(rs, f.Rule) {
			rs = append(rs, f.Rule)
		}
	}
	slices.Sort(rs)
	return rs
}

func TestSkipAndError(t *testing.T) {
	all := []string{"JSONArgsRecommended", "LayerExplosion", "RootUser", "ShellFormAsPID1"}
	for _, tc := range []struct {
		name   string
		df     string
		opt    Options
		want   []string
		failed bool
	}{
		{"nothing set", bad, Options{}, all, false},
		{"directive skip", "# check=skip=RootUser,ShellFormAsPID1\n" + bad, Options{}, []string{"JSONArgsRecommended", "LayerExplosion"}, false},
		{"flag skip", bad, Options{Skip: []string{"RootUser", "JSONArgsRecommended"}}, []string{"LayerExplosion", "ShellFormAsPID1"}, false},
		{"flag skip, comma list", bad, Options{Skip: []string{"RootUser,JSONArgsRecommended"}}, []string{"LayerExplosion", "ShellFormAsPID1"}, false},
		{"directive and flag merge", "# check=skip=RootUser\n" + bad, Options{Skip: []string{"LayerExplosion"}}, []string{"JSONArgsRecommended", "ShellFormAsPID1"}, false},
		{"directive skip all", "# check=skip=all\n" + bad, Options{}, nil, false},
		{"flag skip all", bad, Options{Skip: []string{"all"}}, nil, false},
		{"comment above one instruction", "FROM alpine\nRUN apk add curl\n# check=skip=ShellFormAsPID1,JSONArgsRecommended\nCMD node server.js\n", Options{}, []string{"LayerExplosion", "RootUser"}, false},
		{"directive error", "# check=error=true\n" + bad, Options{}, all, true},
		{"flag error", bad, Options{Error: true}, all, true},
		{"error with everything skipped", "# check=skip=all;error=true\n" + bad, Options{}, nil, false},
		{"error after syntax directive", "# syntax=docker/dockerfile:1\n# check=error=true\nFROM alpine\nUSER 1\nCMD [\"x\"]\n", Options{}, nil, false},
		{"error, clean file", "# check=error=true\nFROM alpine\nUSER 1\n", Options{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Check([]byte(tc.df), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules(fs); !slices.Equal(got, tc.want) {
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
			if got := Failed(fs, tc.opt, []byte(tc.df)); got != tc.failed {
				t.Errorf("Failed = %v, want %v", got, tc.failed)
			}
			for _, f := range fs {
				if want := map[bool]Severity{true: Error, false: Warning}[tc.failed]; f.Severity != want {
					t.Errorf("%s: severity %v, want %v", f.Rule, f.Severity, want)
				}
			}
		})
	}
}

func TestFailedTrustsSeverity(t *testing.T) {
	fs := []Finding{{Rule: "X", Severity: Error}}
	if !Failed(fs, Options{}, []byte("FROM a\n")) {
		t.Error("an error finding did not fail")
	}
	fs = []Finding{{Rule: "X", Severity: Warning}}
	if Failed(fs, Options{}, []byte("FROM a\n")) {
		t.Error("a warning failed without error=true")
	}
	if !Failed(fs, Options{}, []byte("# check=error=true\nFROM a\n")) {
		t.Error("a warning did not fail with error=true in the directive")
	}
	if Failed(nil, Options{Error: true}, nil) {
		t.Error("no findings failed")
	}
}

func TestFormatText(t *testing.T) {
	fs, err := Check([]byte("FROM alpine\nUSER 1\nCMD node server.js\n"), Options{Filename: "app/Dockerfile", Skip: []string{"JSONArgsRecommended"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Format(&b, fs, "text"); err != nil {
		t.Fatal(err)
	}
	want := "app/Dockerfile:3 ShellFormAsPID1: CMD in shell form makes /bin/sh PID 1 of the container: the shell does not forward SIGTERM, so docker stop waits 10s and then kills your process\n" +
		"  fix: use the exec form: CMD [\"node\", \"server.js\"]\n"
	if b.String() != want {
		t.Errorf("text =\n%s\nwant\n%s", b.String(), want)
	}
	if got := fs[0].String(); got != strings.SplitN(want, "\n", 2)[0] {
		t.Errorf("String() = %q", got)
	}
}

func TestFormatJSON(t *testing.T) {
	fs, err := Check([]byte(bad), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Format(&b, fs, "json"); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if len(raw) != len(fs) {
		t.Fatalf("%d objects for %d findings", len(raw), len(fs))
	}
	for i, o := range raw {
		if o["Severity"] != "warning" || o["Rule"] != fs[i].Rule || o["Line"] != float64(fs[i].Line) || o["File"] != "Dockerfile" {
			t.Errorf("object %d = %v", i, o)
		}
		if _, has := o["URL"]; has != (fs[i].URL != "") {
			t.Errorf("object %d: URL present = %v for %q", i, has, fs[i].URL)
		}
	}
	var back []Finding
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !slices.Equal(back, fs) {
		t.Errorf("round trip: %v\n%v\n%v", err, back, fs)
	}

	b.Reset()
	if err := Format(&b, nil, "json"); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no findings = %q, %v", b.String(), err)
	}
	if err := Format(&b, fs, "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestRulesAndExplain(t *testing.T) {
	bk := []string{"StageNameCasing", "FromAsCasing", "NoEmptyContinuation", "ConsistentInstructionCasing",
		"DuplicateStageName", "ReservedStageName", "JSONArgsRecommended", "MaintainerDeprecated",
		"UndefinedArgInFrom", "WorkdirRelativePath", "UndefinedVar", "MultipleInstructionsDisallowed",
		"LegacyKeyValueFormat", "RedundantTargetPlatform", "SecretsUsedInArgOrEnv", "InvalidDefaultArgInFrom",
		"FromPlatformFlagConstDisallowed", "CopyIgnoredFile", "InvalidDefinitionDescription",
		"ExposeProtoCasing", "ExposeInvalidFormat"}
	own := []string{"ShellFormAsPID1", "LayerExplosion", "AptUpdateAlone", "CacheBustingCopy",
		"MissingDockerignore", "RootUser", "DevBaseInFinalStage", "HostUIDMismatch", "SecretInArgOrEnv"}
	got := map[string]Rule{}
	for _, r := range Rules() {
		got[r.Name] = r
		if r.Short == "" || r.Explain == "" {
			t.Errorf("%s: empty Short or Explain", r.Name)
		}
		if lookup(r.Name).fix == "" {
			t.Errorf("%s: no default fix", r.Name)
		}
	}
	if len(got) != len(bk)+len(own) {
		t.Errorf("%d rules, want %d", len(got), len(bk)+len(own))
	}
	for _, n := range bk {
		if r, ok := got[n]; !ok || !r.BuildKit {
			t.Errorf("BuildKit rule %s missing", n)
		}
	}
	for _, n := range own {
		if r, ok := got[n]; !ok || r.BuildKit {
			t.Errorf("bld rule %s missing", n)
		}
	}
	if got["HostUIDMismatch"].Severity != Info || got["RootUser"].Severity != Warning {
		t.Error("wrong severities")
	}
	if s, ok := Explain("rootuser"); !ok || !strings.HasPrefix(s, "RootUser: ") || !strings.Contains(s, "USER") {
		t.Errorf("Explain(rootuser) = %q, %v", s, ok)
	}
	if s, ok := Explain("UndefinedVar"); !ok || !strings.Contains(s, "https://docs.docker.com/") {
		t.Errorf("Explain(UndefinedVar) = %q", s)
	}
	if _, ok := Explain("NoSuchRule"); ok {
		t.Error("Explain of an unknown rule")
	}
}
