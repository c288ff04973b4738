package check

import "testing"

// TestNormalizeRefAgrees checks that the linter compares base images as the
// store names them: spellings of one image compare equal, others do not.
func TestNormalizeRefAgrees(t *testing.T) {
	for _, same := range [][]string{
		{"node", "node:latest", "library/node", "docker.io/node", "docker.io/library/node:latest", "index.docker.io/library/node", "NODE"},
		{"golang:1.22", "docker.io/library/golang:1.22", "Golang:1.22"},
		{"oven/bun:1", "docker.io/oven/bun:1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"$BASE", "$base"},
	} {
		want := normalizeRef(same[0])
		for _, s := range same[1:] {
			if got := normalizeRef(s); got != want {
				t.Errorf("normalizeRef(%q) = %q, want %q as for %q", s, got, want, same[0])
			}
		}
	}
	for _, pair := range [][2]string{{"node", "node:20"}, {"node", "oven/node"}, {"localhost:5000/app", "app"}} {
		if normalizeRef(pair[0]) == normalizeRef(pair[1]) {
			t.Errorf("normalizeRef(%q) == normalizeRef(%q)", pair[0], pair[1])
		}
	}
	if repo, tag := splitRef(normalizeRef("docker.io/library/node:20-slim")); repo != "node" || tag != "20-slim" {
		t.Errorf("splitRef = %q, %q", repo, tag)
	}
}
