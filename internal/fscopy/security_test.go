package fscopy

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bldbuild/bld/dag"
)

// TestBreakout is a catalogue of malicious contexts, stage roots, image
// trees and archives. Next to the source and destination roots sits a
// canary directory that links and names point at ("@" in a link target or
// name stands for the temporary directory holding all three); after each
// copy it must be untouched, and nothing may appear beside it.
func TestBreakout(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		ctx     []ent
		stage   bool // the source is a stage root, not the context
		image   []ent
		archive []tarEnt // ADD of a.tar, added to the context
		heredoc string   // a heredoc with this name
		sources []string
		dest    string
		wantErr string // "" means success or failure are both fine
	}{
		{name: "relative link out of the context", ctx: []ent{symlink("esc", "../canary/secret")},
			sources: []string{"esc"}, dest: "/x", wantErr: "file not found"},
		{name: "absolute link out of the context", ctx: []ent{symlink("abs", "@/canary/secret")},
			sources: []string{"abs"}, dest: "/x", wantErr: "file not found"},
		{name: "link climbing out of the context", ctx: []ent{symlink("up", "../../../../../../..")},
			sources: []string{"up/canary/secret"}, dest: "/x", wantErr: "file not found"},
		{name: "path through a link out of the context", ctx: []ent{dir("d"), symlink("d/esc", "@/canary")},
			sources: []string{"d/esc/secret"}, dest: "/x", wantErr: "file not found"},
		{name: "wildcard through a link out of the context", ctx: []ent{dir("d"), symlink("d/esc", "@/canary")},
			sources: []string{"d/esc/*"}, dest: "/x/", wantErr: "no source files"},
		{name: "links inside a copied directory are not followed", ctx: []ent{dir("d"), symlink("d/esc", "@/canary"), symlink("d/f", "@/canary/secret")},
			sources: []string{"d"}, dest: "/x"},
		{name: "dotdot source", sources: []string{"../canary/secret", "../../../canary/secret"}, dest: "/x/", wantErr: "file not found"},
		{name: "stage absolute link", stage: true, ctx: []ent{symlink("abs", "/canary/secret")},
			sources: []string{"abs"}, dest: "/x", wantErr: "file not found"},
		{name: "stage host-absolute link", stage: true, ctx: []ent{symlink("abs", "@/canary/secret")},
			sources: []string{"abs"}, dest: "/x", wantErr: "file not found"},
		{name: "context hard link to an outside file is copied, not linked", ctx: []ent{hardlink("h", "../canary/secret")},
			sources: []string{"h", "h"}, dest: "/x/"},
		{name: "dest link to the image root", ctx: []ent{file("a", "A")}, image: []ent{symlink("app", "/")},
			sources: []string{"a"}, dest: "/app/"},
		{name: "dest link to a host path", ctx: []ent{file("secret", "PWNED")}, image: []ent{symlink("app", "@/canary")},
			sources: []string{"secret"}, dest: "/app/"},
		{name: "dest link climbing out", ctx: []ent{file("secret", "PWNED")}, image: []ent{symlink("app", "../../../../canary")},
			sources: []string{"secret"}, dest: "/app/"},
		{name: "dest dotdot", ctx: []ent{file("secret", "PWNED")}, sources: []string{"secret"}, dest: "/../../canary/secret"},
		{name: "dest file is a link out", ctx: []ent{file("secret", "PWNED")}, image: []ent{symlink("s", "@/canary/secret")},
			sources: []string{"secret"}, dest: "/s"},
		{name: "nested dest link out", ctx: []ent{dir("d"), dir("d/sub"), file("d/sub/secret", "PWNED")},
			image: []ent{dir("app"), symlink("app/sub", "@/canary")}, sources: []string{"d"}, dest: "/app", wantErr: "not a directory"},
		{name: "nested dest file link out", ctx: []ent{dir("d"), file("d/secret", "PWNED")},
			image: []ent{dir("app"), symlink("app/secret", "@/canary/secret")}, sources: []string{"d"}, dest: "/app"},
		{name: "heredoc name", heredoc: "../../canary/secret", dest: "/"},
		// The archive catalogue (names, links and hard links that try to
		// leave the destination) is internal/archive's TestBreakouts, run
		// with ADD's options; these check that ADD goes through it and
		// reports its errors.
		{name: "archive dotdot", archive: []tarEnt{{name: "../secret", data: "PWNED"}}, wantErr: `entry "../secret": path escapes the root`},
		{name: "archive link then write", archive: []tarEnt{
			{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "l/secret", data: "PWNED"}}},
		{name: "archive hard link through a link", archive: []tarEnt{
			{name: "l", typ: tar.TypeSymlink, link: "@/canary"}, {name: "h", typ: tar.TypeLink, link: "l/secret"}},
			wantErr: `entry "h": link target`},
		{name: "archive into a dest link", image: []ent{symlink("dst", "@/canary")},
			archive: []tarEnt{{name: "secret", data: "PWNED"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			at := func(s string) string { return strings.ReplaceAll(s, "@", tmp) }
			ctxDir, root, canary := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root"), filepath.Join(tmp, "canary")
			mkTree(t, canary, file("secret", "CANARY"))
			os.Mkdir(ctxDir, 0o755)
			os.Mkdir(root, 0o755)
			for _, e := range tc.ctx {
				e.link = at(e.link)
				if e.hard != "" { // a hard link to the canary
					if err := os.Link(filepath.Join(canary, "secret"), filepath.Join(ctxDir, e.path)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				mkTree(t, ctxDir, e)
			}
			for _, e := range tc.image {
				e.link = at(e.link)
				mkTree(t, root, e)
			}
			before := describe(t, tmp)

			var err error
			switch {
			case tc.archive != nil:
				ents := slices.Clone(tc.archive)
				for i := range ents {
					ents[i].name, ents[i].link = at(ents[i].name), at(ents[i].link)
				}
				os.WriteFile(filepath.Join(ctxDir, "a.tar"), mkTar(t, ents...), 0o644)
				err = Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"a.tar"}, root, "/dst/", Options{Add: true})
			case tc.heredoc != "":
				err = Heredocs(t.Context(), []dag.Heredoc{{Name: tc.heredoc, Data: "PWNED"}}, root, tc.dest, Options{})
			default:
				err = Copy(t.Context(), Source{Dir: ctxDir, IsContext: !tc.stage}, tc.sources, root, at(tc.dest), Options{})
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
			t.Logf("err = %v", err)

			after := describe(t, tmp)
			for p, d := range before {
				if strings.HasPrefix(p, "root") || strings.HasPrefix(p, "ctx") {
					continue
				}
				if after[p] != d {
					t.Errorf("outside the roots, %s = %q, want %q", p, after[p], d)
				}
			}
			for p, d := range after {
				top := strings.Split(p, string(filepath.Separator))[0]
				if top != "root" && top != "ctx" && before[p] == "" {
					t.Errorf("outside the roots, new %s: %q", p, d)
				}
			}
			if data, _ := os.ReadFile(filepath.Join(canary, "secret")); !bytes.Equal(data, []byte("CANARY")) {
				t.Errorf("canary = %q", data)
			}
			// Nothing readable through the roots leads to the canary.
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if data, _ := os.ReadFile(p); bytes.Equal(data, []byte("CANARY")) && !strings.Contains(tc.name, "hard link to an outside file") {
						t.Errorf("%s holds the canary's contents", p)
					}
				}
				return nil
			})
		})
	}
}
