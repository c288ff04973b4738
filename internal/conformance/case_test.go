package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Files of a case directory. Everything else in it is ignored; the build
// context is the context/ subdirectory (an empty one when it is absent).
const (
	caseDockerfile        = "Dockerfile"
	caseBuildahDockerfile = "Dockerfile.buildah" // what buildah builds instead, when 1.28 lacks the syntax
	caseSpecFile          = "case.json"
	caseReadme            = "README"
	caseContextDir        = "context"
	caseSetupScript       = "setup.sh" // run with /bin/sh inside a copy of context/ before both builds
)

// caseSpec is a case's case.json. Every field is optional.
type caseSpec struct {
	// BuildArgs are passed to both builders as --build-arg K=V.
	BuildArgs map[string]string `json:"build_args"`
	// Target is passed to both builders as --target.
	Target string `json:"target"`
	// Secrets maps a secret id to a file in the case directory; both
	// builders get --secret id=ID,src=FILE, and the suite checks that no
	// file of either image contains the secret's bytes.
	Secrets map[string]string `json:"secrets"`
	// SkipBuildah: buildah 1.28 cannot build this case at all and there is
	// no Dockerfile.buildah; only Expect is checked against bld's image.
	SkipBuildah bool `json:"skip_buildah"`
	// BuildahFlags are extra flags for `buildah bud` only (e.g. --network=none
	// standing in for RUN --network=none in Dockerfile.buildah).
	BuildahFlags []string `json:"buildah_flags"`
	// Note says where BuildKit differs from buildah and what bld does instead.
	// Required when Expect, SkipBuildah or a Dockerfile.buildah is used.
	Note string `json:"note"`
	// ExpectError: the build must fail (both builders), and bld's stderr must
	// contain every one of these substrings.
	ExpectError substrings `json:"expect_error"`
	// Expect overrides buildah's result for the bld side (BuildKit semantics).
	Expect expectation `json:"expect"`
	// Ignore lists paths left out on both sides, each with everything under it.
	Ignore []string `json:"ignore"`
	// RootlessExpectError: rootless bld (run by an ordinary user) cannot
	// build what root builds here, and must fail with these substrings;
	// RootlessNote (required with it) says why no user namespace can.
	RootlessExpectError substrings `json:"rootless_expect_error"`
	RootlessNote        string     `json:"rootless_note"`
}

// expectation is what bld must produce where it differs from buildah.
type expectation struct {
	// Paths maps an absolute path in the image to the fields bld must have
	// there. Fields not given keep buildah's value.
	Paths map[string]pathExpect `json:"paths"`
	// Config maps a config field name (see imageConfig) to its value, in the
	// normalised form imageConfig uses (ExposedPorts and Volumes are sorted
	// lists, Healthcheck durations are nanoseconds).
	Config map[string]json.RawMessage `json:"config"`
}

// pathExpect is one path's expected state; nil fields are not overridden.
type pathExpect struct {
	Exists  *bool   `json:"exists"`
	Type    *string `json:"type"`
	Mode    *string `json:"mode"` // octal, with special bits: "4755", "1777"
	UID     *int    `json:"uid"`
	GID     *int    `json:"gid"`
	Content *string `json:"content"` // sets size and sha256
	Size    *int64  `json:"size"`
	Target  *string `json:"target"`
	Rdev    *string `json:"rdev"`  // "major:minor"
	Links   *string `json:"links"` // other paths hardlinked to this one, comma-separated
}

// substrings is a list of strings that may be written in JSON as one string.
type substrings []string

func (s *substrings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = substrings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// testCase is a loaded case directory.
type testCase struct {
	name              string
	dir               string // absolute
	spec              caseSpec
	dockerfile        string // absolute
	buildahDockerfile string // absolute; the same as dockerfile unless Dockerfile.buildah exists
	hasContext        bool
	hasSetup          bool
}

// loadCases reads every case directory under root, sorted by name.
func loadCases(root string) ([]*testCase, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var cases []*testCase
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		tc, err := loadCase(filepath.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", e.Name(), err)
		}
		cases = append(cases, tc)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases, nil
}

func loadCase(dir string) (*testCase, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	tc := &testCase{name: filepath.Base(dir), dir: dir}
	tc.dockerfile = filepath.Join(dir, caseDockerfile)
	if _, err := os.Stat(tc.dockerfile); err != nil {
		return nil, err
	}
	tc.buildahDockerfile = tc.dockerfile
	if _, err := os.Stat(filepath.Join(dir, caseBuildahDockerfile)); err == nil {
		tc.buildahDockerfile = filepath.Join(dir, caseBuildahDockerfile)
	}
	if fi, err := os.Stat(filepath.Join(dir, caseContextDir)); err == nil && fi.IsDir() {
		tc.hasContext = true
	}
	if _, err := os.Stat(filepath.Join(dir, caseSetupScript)); err == nil {
		tc.hasSetup = true
	}
	if b, err := os.ReadFile(filepath.Join(dir, caseSpecFile)); err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tc.spec); err != nil {
			return nil, fmt.Errorf("parse %s: %w", caseSpecFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := tc.validate(); err != nil {
		return nil, err
	}
	return tc, nil
}

// validate catches mistakes in a case before anything is built.
func (tc *testCase) validate() error {
	s := &tc.spec
	if s.Note == "" {
		if _, err := os.Stat(filepath.Join(tc.dir, caseReadme)); err != nil {
			return fmt.Errorf("needs a one-line %s or a note in %s saying what it checks", caseReadme, caseSpecFile)
		}
	}
	differs := len(s.Expect.Paths) > 0 || len(s.Expect.Config) > 0 || s.SkipBuildah || tc.buildahDockerfile != tc.dockerfile
	if differs && s.Note == "" {
		return fmt.Errorf("%s: expect, skip_buildah or %s need a note saying where BuildKit and buildah differ", caseSpecFile, caseBuildahDockerfile)
	}
	if s.SkipBuildah && tc.buildahDockerfile != tc.dockerfile {
		return fmt.Errorf("%s: skip_buildah and %s exclude each other", caseSpecFile, caseBuildahDockerfile)
	}
	if s.SkipBuildah && len(s.ExpectError) == 0 && len(s.Expect.Paths) == 0 && len(s.Expect.Config) == 0 {
		return fmt.Errorf("%s: skip_buildah without expect checks nothing", caseSpecFile)
	}
	for p, pe := range s.Expect.Paths {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return fmt.Errorf("%s: expect path %q must be absolute and clean", caseSpecFile, p)
		}
		if pe.Mode != nil {
			if _, err := strconv.ParseUint(*pe.Mode, 8, 32); err != nil {
				return fmt.Errorf("%s: %s: mode %q is not octal", caseSpecFile, p, *pe.Mode)
			}
		}
		if pe.Type != nil && !validTypes[*pe.Type] {
			return fmt.Errorf("%s: %s: unknown type %q", caseSpecFile, p, *pe.Type)
		}
	}
	for k := range s.Expect.Config {
		if !configFields[k] {
			return fmt.Errorf("%s: unknown config field %q (have %s)", caseSpecFile, k, strings.Join(sortedKeys(configFields), ", "))
		}
	}
	for id, f := range s.Secrets {
		if _, err := os.Stat(filepath.Join(tc.dir, f)); err != nil {
			return fmt.Errorf("%s: secret %s: %w", caseSpecFile, id, err)
		}
	}
	if (len(s.RootlessExpectError) > 0) != (s.RootlessNote != "") {
		return fmt.Errorf("%s: rootless_expect_error and rootless_note go together (the note says why rootless cannot)", caseSpecFile)
	}
	for _, p := range s.Ignore {
		if !path.IsAbs(p) {
			return fmt.Errorf("%s: ignore path %q must be absolute", caseSpecFile, p)
		}
	}
	return nil
}

var validTypes = map[string]bool{"file": true, "dir": true, "symlink": true, "char": true, "block": true, "fifo": true, "socket": true}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
