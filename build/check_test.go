package build_test

import (
	"path/filepath"
	"strings"
	"testing"

	units "github.com/docker/go-units"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/state"
)

// Check sees what a build would, including the base image's size in the
// local store (DevBaseInFinalStage names it).
func TestCheckUsesStoreSizes(t *testing.T) {
	dir := t.TempDir()
	root, err := state.Open(t.Context(), filepath.Join(dir, "root"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build.Import(t.Context(), root, busybox, nil, "golang:1.22", nil); err != nil {
		t.Fatal(err)
	}
	_, img, err := build.LocalImage(root, "golang:1.22")
	if err != nil {
		t.Fatal(err)
	}
	size := build.ImageSize(img)
	if size <= 0 {
		t.Fatalf("ImageSize = %d", size)
	}
	df := []byte("FROM golang:1.22 AS build\nRUN go build -o /app .\nFROM golang:1.22\nCOPY --from=build /app /app\n")
	o := build.Options{Root: root, ContextDir: dir, Dockerfile: df, DockerfilePath: filepath.Join(dir, "app.Dockerfile")}

	findings, failed, err := build.Check(o, build.CheckOptions{})
	if err != nil || failed {
		t.Fatalf("Check = %v, failed %v", err, failed)
	}
	var msg string
	for _, f := range findings {
		if f.Rule == "DevBaseInFinalStage" {
			msg = f.Message
		}
	}
	if !strings.Contains(msg, "on this machine") {
		t.Fatalf("DevBaseInFinalStage = %q, want the local size of the base; findings %+v", msg, findings)
	}
	// The size is what the store holds, as check prints it ("1.2 MiB").
	if want := units.CustomSize("%.1f %s", float64(size), 1024, []string{"B", "KiB", "MiB", "GiB"}); size < 1024 || !strings.Contains(msg, want+" on this machine") {
		t.Errorf("message %q does not show the size %d (%s)", msg, size, want)
	}

	// Without a root the rule still fires (the same toolchain image), with
	// no size; with AsErrors it fails the checks.
	o.Root = nil
	findings, failed, err = build.Check(o, build.CheckOptions{AsErrors: true})
	if err != nil || !failed {
		t.Fatalf("Check without root, as errors = %v, failed %v", err, failed)
	}
	for _, f := range findings {
		if f.Rule == "DevBaseInFinalStage" && strings.Contains(f.Message, "on this machine") {
			t.Errorf("without a root: %q names a size", f.Message)
		}
	}
}

// Check raises every error the build raises from the Dockerfile alone (the
// build's own parse and validation), with its line, besides the findings.
func TestCheckRaisesBuildErrors(t *testing.T) {
	dir := t.TempDir()
	root, err := state.Open(t.Context(), filepath.Join(dir, "root"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, df, want string // want "": no error
	}{
		{"COPY --link with a named owner", "FROM alpine\nCOPY --link --chown=app:app a /a\n", "app.Dockerfile:2: COPY: --chown=app:app: user and group names can't be resolved when used with --link"},
		{"COPY --link with a numeric owner", "FROM alpine\nCOPY --link --chown=1000:1000 a /a\n", ""},
		{"bad mount type", "FROM alpine\nRUN --mount=type=nope,target=/x true\n", "app.Dockerfile:2"},
		{"COPY --from its own stage", "FROM alpine AS a\nCOPY --from=a /x /x\n", "app.Dockerfile:2"},
		{"base not in the store", "FROM elsewhere.invalid/app:1\nUSER 1\nCMD [\"x\"]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := build.Options{Root: root, ContextDir: dir, Dockerfile: []byte(tc.df), DockerfilePath: filepath.Join(dir, "app.Dockerfile")}
			_, _, err := build.Check(o, build.CheckOptions{Validate: true})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check = %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

// Checks can fail a build only when a rule is an error or warnings are
// made errors (the check directive's error=true, or AsErrors).
func TestChecksCanFail(t *testing.T) {
	for _, tc := range []struct {
		df       string
		asErrors bool
		want     bool
	}{
		{"FROM scratch\nCMD echo hi\n", false, false},
		{"FROM scratch\nCMD echo hi\n", true, true},
		{"# check=error=true\nFROM scratch\nCMD echo hi\n", false, true},
		{"# check=skip=all;error=true\nFROM scratch\n", false, true},
		{"# check=error=false\nFROM scratch\n", false, false},
	} {
		o := build.Options{Dockerfile: []byte(tc.df), DockerfileName: "Dockerfile"}
		if got := build.ChecksCanFail(o, build.CheckOptions{AsErrors: tc.asErrors}); got != tc.want {
			t.Errorf("ChecksCanFail(%q, AsErrors=%v) = %v, want %v", tc.df, tc.asErrors, got, tc.want)
		}
	}
}
