package imageref

import "testing"

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestNormalizeAndFamiliar(t *testing.T) {
	for _, tc := range []struct{ in, full, familiar string }{
		{"app", "docker.io/library/app:latest", "app:latest"},
		{"app:v1", "docker.io/library/app:v1", "app:v1"},
		{"library/app:v1", "docker.io/library/app:v1", "app:v1"},
		{"docker.io/app", "docker.io/library/app:latest", "app:latest"},
		{"docker.io/library/app:v1", "docker.io/library/app:v1", "app:v1"},
		{"index.docker.io/library/app:v1", "docker.io/library/app:v1", "app:v1"},
		{"team/app", "docker.io/team/app:latest", "team/app:latest"},
		{"localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"},
		{"127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", "127.0.0.1:5000/a/b/c:latest"},
		{"mcr.microsoft.com/dotnet/sdk:8.0", "mcr.microsoft.com/dotnet/sdk:8.0", "mcr.microsoft.com/dotnet/sdk:8.0"},
		{"app@" + dig, "docker.io/library/app@" + dig, "app@" + dig},
	} {
		full, err := Normalize(tc.in)
		if err != nil {
			t.Errorf("Normalize(%q): %v", tc.in, err)
			continue
		}
		if full != tc.full {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, full, tc.full)
		}
		if again, err := Normalize(full); err != nil || again != full {
			t.Errorf("Normalize(%q) = %q, %v: not a fixed point", full, again, err)
		}
		if f := Familiar(full); f != tc.familiar {
			t.Errorf("Familiar(%q) = %q, want %q", full, f, tc.familiar)
		}
	}
	for _, bad := range []string{"", "App", "a b", "app:", "app@sha256:12"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}
