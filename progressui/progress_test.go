package progressui

import (
	"bytes"
	"testing"
)

// TestMessageModes: a note outside any step ("loaded into docker", "no
// cache there yet") is a line in plain mode and nothing with -q, as
// buildx -q prints only the image; a warning is a line in both.
func TestMessageModes(t *testing.T) {
	for _, tc := range []struct {
		mode, msg, want string
	}{
		{"plain", "loaded into docker", "loaded into docker\n"},
		{"quiet", "loaded into docker", ""},
		{"plain", "warning: chroot", "warning: chroot\n"},
		{"quiet", "warning: chroot", "warning: chroot\n"},
	} {
		var b bytes.Buffer
		New(tc.mode, &b).Message(tc.msg)
		if b.String() != tc.want {
			t.Errorf("%s: Message(%q) wrote %q, want %q", tc.mode, tc.msg, b.String(), tc.want)
		}
	}
}
