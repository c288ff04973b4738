package build_test

import (
	"strings"
	"testing"

	"github.com/bldbuild/bld/build"
)

// TestParsePlatforms: --platform values as buildx reads them: comma lists,
// the flag repeated, "local", containerd's normalisation, duplicates
// (after normalisation) dropped, order kept.
func TestParsePlatforms(t *testing.T) {
	host := build.FormatPlatform(build.HostPlatform())
	for _, tc := range []struct {
		specs []string
		want  string // formatted, comma-joined; or the error's text
		err   bool
	}{
		{[]string{"linux/amd64,linux/arm64"}, "linux/amd64,linux/arm64", false},
		{[]string{"linux/arm64", "linux/amd64"}, "linux/arm64,linux/amd64", false},
		{[]string{"linux/arm64/v8,linux/aarch64,arm64"}, "linux/arm64", false},
		{[]string{"linux/arm,linux/arm/v6"}, "linux/arm/v7,linux/arm/v6", false},
		{[]string{"linux/x86_64/v2,linux/amd64/v1"}, "linux/amd64/v2,linux/amd64", false},
		{[]string{"local"}, host, false},
		{[]string{"local," + host}, host, false},
		{[]string{"linux/amd64,,linux/arm64"}, "empty platform in the list", true},
		{[]string{"linux/"}, "--platform linux/:", true},
	} {
		ps, err := build.ParsePlatforms(tc.specs)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePlatforms(%q) = %v, %v; want an error with %q", tc.specs, ps, err, tc.want)
			}
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, build.FormatPlatform(p))
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("ParsePlatforms(%q) = %q, %v; want %q", tc.specs, got, err, tc.want)
		}
	}
}
