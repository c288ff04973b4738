package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// diff is one difference between bld's image and the reference.
type diff struct {
	Path, Field string
	Bld, Want   string
	Source      string // "buildah" or "expect": where Want came from
}

// fieldNames are entry's compared fields, in table order.
var fieldNames = []string{"type", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "links"}

func (e *entry) field(name string) string {
	switch name {
	case "type":
		return e.Type
	case "mode":
		return fmt.Sprintf("%04o", e.Mode)
	case "uid":
		return strconv.Itoa(e.UID)
	case "gid":
		return strconv.Itoa(e.GID)
	case "size":
		if e.Type != "file" {
			return ""
		}
		return strconv.FormatInt(e.Size, 10)
	case "sha256":
		return e.SHA256
	case "target":
		return e.Target
	case "rdev":
		return e.Rdev
	case "links":
		return e.Links
	}
	panic("unknown field " + name)
}

// reference is what bld's image is compared against: buildah's image with
// case.json's expectations applied. expected marks the paths and config
// fields whose value came from case.json, so the table can say so.
type reference struct {
	img            *image
	expectedPaths  map[string]map[string]bool // path -> fields set by case.json
	absentPaths    map[string]bool            // exists:false
	expectedConfig map[string]bool
	// partial: compare only the paths in expectedPaths and the config fields
	// in expectedConfig (buildah did not build the case).
	partial bool
}

// applyExpect builds the reference from buildah's image (nil when buildah
// was skipped) and the case's expectations.
func applyExpect(buildah *image, exp expectation) (*reference, error) {
	ref := &reference{
		img:            &image{fs: tree{}},
		expectedPaths:  map[string]map[string]bool{},
		absentPaths:    map[string]bool{},
		expectedConfig: map[string]bool{},
		partial:        buildah == nil,
	}
	if buildah != nil {
		for p, e := range buildah.fs {
			c := *e
			ref.img.fs[p] = &c
		}
		ref.img.config = buildah.config
	}
	for p, pe := range exp.Paths {
		if pe.Exists != nil && !*pe.Exists {
			delete(ref.img.fs, p)
			ref.absentPaths[p] = true
			continue
		}
		e, ok := ref.img.fs[p]
		if !ok {
			e = &entry{only: map[string]bool{}}
			ref.img.fs[p] = e
		}
		set := map[string]bool{}
		mark := func(f string) {
			set[f] = true
			if e.only != nil {
				e.only[f] = true
			}
		}
		if pe.Type != nil {
			e.Type = *pe.Type
			mark("type")
		}
		if pe.Mode != nil {
			m, err := strconv.ParseUint(*pe.Mode, 8, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: mode: %w", p, err)
			}
			e.Mode = uint32(m)
			mark("mode")
		}
		if pe.UID != nil {
			e.UID = *pe.UID
			mark("uid")
		}
		if pe.GID != nil {
			e.GID = *pe.GID
			mark("gid")
		}
		if pe.Content != nil {
			sum := sha256.Sum256([]byte(*pe.Content))
			e.SHA256 = hex.EncodeToString(sum[:])
			e.Size = int64(len(*pe.Content))
			mark("sha256")
			mark("size")
			if e.Type == "" {
				e.Type = "file"
			}
		}
		if pe.Size != nil {
			e.Size = *pe.Size
			mark("size")
		}
		if pe.Target != nil {
			e.Target = *pe.Target
			mark("target")
			if e.Type == "" {
				e.Type = "symlink"
			}
		}
		if pe.Rdev != nil {
			e.Rdev = *pe.Rdev
			mark("rdev")
		}
		if pe.Links != nil {
			e.Links = *pe.Links
			mark("links")
		}
		if e.only != nil && e.Type != "" {
			e.only["type"] = true
		}
		ref.expectedPaths[p] = set
	}
	if len(exp.Config) > 0 {
		cur, err := json.Marshal(ref.img.config)
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return nil, err
		}
		for k, v := range exp.Config {
			m[k] = v
			ref.expectedConfig[k] = true
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		var c imageConfig
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("expect.config: %w", err)
		}
		ref.img.config = rawConfig{
			Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User,
			ExposedPorts: setOf(c.ExposedPorts), Volumes: setOf(c.Volumes), Labels: c.Labels,
			StopSignal: c.StopSignal, Healthcheck: c.Healthcheck, OnBuild: c.OnBuild, Shell: c.Shell,
		}.normalise()
	}
	return ref, nil
}

func setOf(s []string) map[string]struct{} {
	if s == nil {
		return nil
	}
	m := map[string]struct{}{}
	for _, v := range s {
		m[v] = struct{}{}
	}
	return m
}

// compare lists every difference between got (bld's image) and ref, sorted
// by path. ignore drops paths (and everything under them) on both sides.
func compare(got *image, ref *reference, ignore []string) []diff {
	var diffs []diff
	ignored := func(p string) bool {
		for _, ig := range ignore {
			ig = path.Clean(ig)
			if p == ig || strings.HasPrefix(p, ig+"/") {
				return true
			}
		}
		return false
	}
	source := func(p, field string) string {
		if ref.expectedPaths[p][field] || ref.absentPaths[p] {
			return "expect"
		}
		return "buildah"
	}
	paths := map[string]bool{}
	if !ref.partial {
		for p := range got.fs {
			paths[p] = true
		}
	}
	for p := range ref.img.fs {
		if !ref.partial || ref.expectedPaths[p] != nil {
			paths[p] = true
		}
	}
	for p := range ref.absentPaths {
		paths[p] = true
	}
	for _, p := range sortedKeys(paths) {
		if ignored(p) {
			continue
		}
		g, w := got.fs[p], ref.img.fs[p]
		switch {
		case g == nil && w == nil:
			continue
		case g == nil:
			diffs = append(diffs, diff{p, "exists", "no", "yes (" + w.Type + ")", source(p, "type")})
			continue
		case w == nil:
			diffs = append(diffs, diff{p, "exists", "yes (" + g.Type + ")", "no", source(p, "exists")})
			continue
		}
		for _, f := range fieldNames {
			if w.only != nil && !w.only[f] {
				continue
			}
			if f != "type" && g.Type != w.Type {
				break // the type difference says it all
			}
			if gv, wv := g.field(f), w.field(f); gv != wv {
				diffs = append(diffs, diff{p, f, gv, wv, source(p, f)})
			}
		}
	}
	diffs = append(diffs, compareConfig(got.config, ref)...)
	return diffs
}

func compareConfig(got imageConfig, ref *reference) []diff {
	gm, wm := configMap(got), configMap(ref.img.config)
	var diffs []diff
	for _, k := range sortedKeys(configFields) {
		if ref.partial && !ref.expectedConfig[k] {
			continue
		}
		if gm[k] != wm[k] {
			src := "buildah"
			if ref.expectedConfig[k] {
				src = "expect"
			}
			g, w := listDelta(gm[k], wm[k])
			diffs = append(diffs, diff{"(config)", k, g, w, src})
		}
	}
	return diffs
}

// listDelta shortens two differing JSON values for the table: when both are
// lists with the same items in another order they are shown whole, otherwise
// each side shows only the items the other lacks ("only: [...]").
func listDelta(got, want string) (string, string) {
	var g, w []string
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil || g == nil || w == nil {
		return got, want
	}
	onlyIn := func(a, b []string) []string {
		seen := map[string]int{}
		for _, v := range b {
			seen[v]++
		}
		var out []string
		for _, v := range a {
			if seen[v] > 0 {
				seen[v]--
				continue
			}
			out = append(out, v)
		}
		return out
	}
	og, ow := onlyIn(g, w), onlyIn(w, g)
	if len(og) == 0 && len(ow) == 0 {
		return got, want // same items, other order
	}
	enc := func(v []string) string {
		b, _ := json.Marshal(v)
		return "only: " + string(b)
	}
	return enc(og), enc(ow)
}

func configMap(c imageConfig) map[string]string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // imageConfig always marshals
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		panic(err)
	}
	m := map[string]string{}
	for k, v := range raw {
		m[k] = string(v)
	}
	return m
}

// table renders diffs for a test log.
func table(diffs []diff) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tFIELD\tBLD\tWANT\tFROM")
	for _, d := range diffs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Path, d.Field, short(d.Bld), short(d.Want), d.Source)
	}
	tw.Flush()
	return b.String()
}

func short(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" {
		return s[:12] // a sha256
	}
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// staleExpectations lists the expectations that buildah already meets in
// full (every field given for a path, or a config field): the case's note
// may no longer describe a real difference.
func staleExpectations(buildah *image, exp expectation) []string {
	if buildah == nil {
		return nil
	}
	ref, err := applyExpect(buildah, exp)
	if err != nil {
		return nil
	}
	var stale []string
	for p := range exp.Paths {
		if ref.absentPaths[p] {
			// Stubs are removed from buildah's side before this check.
			if buildah.fs[p] == nil && !slices.Contains(buildahStubs, p) {
				stale = append(stale, p+" exists:false")
			}
			continue
		}
		b, w := buildah.fs[p], ref.img.fs[p]
		if b == nil {
			continue
		}
		same := true
		for f := range ref.expectedPaths[p] {
			same = same && b.field(f) == w.field(f)
		}
		if same {
			stale = append(stale, p)
		}
	}
	bm, wm := configMap(buildah.config), configMap(ref.img.config)
	for k := range exp.Config {
		if bm[k] == wm[k] {
			stale = append(stale, "config "+k)
		}
	}
	sort.Strings(stale)
	return stale
}

// describeChanges lists, for -show, every path of img that is new or
// differs from base (with all its fields), every path removed, and the config.
func describeChanges(img *image, base tree) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tTYPE\tMODE\tUID:GID\tSIZE\tCONTENT/TARGET\tLINKS")
	paths := map[string]bool{}
	for p := range img.fs {
		paths[p] = true
	}
	for p := range base {
		paths[p] = true
	}
	for _, p := range sortedKeys(paths) {
		e, old := img.fs[p], base[p]
		if e == nil {
			fmt.Fprintf(tw, "%s\t(removed)\t\t\t\t\t\n", p)
			continue
		}
		if old != nil && sameEntry(old, e) {
			continue
		}
		what := e.Target
		if e.Type == "file" {
			what = short(e.SHA256)
		}
		if e.Type == "char" || e.Type == "block" {
			what = e.Rdev
		}
		fmt.Fprintf(tw, "%s\t%s\t%04o\t%d:%d\t%s\t%s\t%s\n", p, e.Type, e.Mode, e.UID, e.GID, e.field("size"), short(what), e.Links)
	}
	tw.Flush()
	cfg, _ := json.Marshal(img.config)
	return b.String() + "config: " + string(cfg)
}

func sameEntry(a, b *entry) bool {
	for _, f := range fieldNames {
		if a.field(f) != b.field(f) {
			return false
		}
	}
	return true
}
