package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// scratchDir uses an empty ScratchDir as it is and makes a bld-sandbox-N
// directory in any other, or in os.TempDir() when none is given.
func TestScratchDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(dir string) string // returns the ScratchDir to pass
		same    bool                    // the state is the ScratchDir itself
		wantErr bool
	}{
		{name: "empty", setup: func(dir string) string { return dir }, same: true},
		{name: "holds a file", setup: func(dir string) string {
			os.WriteFile(filepath.Join(dir, "pipe-x"), nil, 0o600)
			return dir
		}},
		{name: "holds a directory", setup: func(dir string) string {
			os.Mkdir(filepath.Join(dir, "0"), 0o700)
			return dir
		}},
		{name: "none given", setup: func(string) string { return "" }},
		{name: "missing", setup: func(dir string) string { return filepath.Join(dir, "missing") }, wantErr: true},
		{name: "a file", setup: func(dir string) string {
			p := filepath.Join(dir, "file")
			os.WriteFile(p, nil, 0o600)
			return p
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scratch := tc.setup(t.TempDir())
			state, made, err := scratchDir(scratch)
			if (err != nil) != tc.wantErr {
				t.Fatalf("scratchDir(%q): %v, want error %v", scratch, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if made {
				defer os.Remove(state)
			}
			if (state == scratch) != tc.same || made == tc.same {
				t.Fatalf("scratchDir(%q) = %q, made %v", scratch, state, made)
			}
			if !tc.same {
				parent := scratch
				if parent == "" {
					parent = os.TempDir()
				}
				if filepath.Dir(state) != filepath.Clean(parent) || !strings.HasPrefix(filepath.Base(state), "bld-sandbox-") {
					t.Errorf("state %s, want a bld-sandbox-N in %s", state, parent)
				}
			}
		})
	}
}

// Steps given one empty ScratchDir, at once (each over a root of its
// own), each see their own /etc files, and leave it empty.
func TestSandboxSharedScratchDir(t *testing.T) {
	var roots []string
	for range 4 {
		roots = append(roots, newRoot(t))
	}
	scratch := t.TempDir()
	var wg sync.WaitGroup
	for i, root := range roots {
		wg.Go(func() {
			spec := Spec{Root: bindRoot(root), ScratchDir: scratch, Hostname: "step" + string(rune('a'+i))}
			out, errOut, err := runIn(t, "", spec, "cat", "/etc/hostname")
			if want := spec.Hostname + "\n"; err != nil || out != want {
				t.Errorf("step %d: /etc/hostname %q (%v, %s), want %q", i, out, err, errOut, want)
			}
		})
	}
	wg.Wait()
	if entries, err := os.ReadDir(scratch); err != nil || len(entries) != 0 {
		t.Errorf("scratch dir after the steps: %v, %v", entries, err)
	}
}
