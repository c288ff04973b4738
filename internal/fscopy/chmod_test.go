package fscopy

import (
	"strings"
	"testing"
)

func TestParseChmod(t *testing.T) {
	tests := []struct {
		in        string
		perm      uint32 // the entry's own mode
		dir       bool
		want      uint32
		wantError bool
	}{
		// octal: the same for every entry
		{in: "755", perm: 0o600, want: 0o755},
		{in: "0644", perm: 0o777, dir: true, want: 0o644},
		{in: "0", perm: 0o644, want: 0},
		{in: "4755", perm: 0o644, want: 0o4755},
		{in: "2755", want: 0o2755},
		{in: "1777", want: 0o1777},
		{in: "7777", want: 0o7777},
		// symbolic: applied to the entry's own mode, as chmod(1)
		{in: "u+x,g-w", perm: 0o664, want: 0o744},
		{in: "u+x,g-w", perm: 0o755, dir: true, want: 0o755},
		{in: "a=r", perm: 0o755, want: 0o444},
		{in: "a=r", perm: 0o755, dir: true, want: 0o444},
		{in: "go-rwx", perm: 0o755, want: 0o700},
		{in: "go-rwx", perm: 0o1777, dir: true, want: 0o1700},
		{in: "+x", perm: 0o644, want: 0o755}, // umask 0: all
		{in: "o=u", perm: 0o640, want: 0o646},
		{in: "u=rwx,go=u-w", perm: 0o600, want: 0o755},
		{in: "g+s", perm: 0o755, dir: true, want: 0o2755},
		{in: "u+s", perm: 0o755, want: 0o4755},
		{in: "+t", perm: 0o777, dir: true, want: 0o1777},
		// X: a directory, or a file executable by someone
		{in: "a+X", perm: 0o600, dir: true, want: 0o711},
		{in: "a+X", perm: 0o644, want: 0o644},
		{in: "a+X", perm: 0o744, want: 0o755},
		{in: "a+X", perm: 0o640 | 0o001, want: 0o751},
		{in: "=rw,+X", perm: 0o700, want: 0o777},
		{in: "=rw,+X", perm: 0o600, want: 0o666},
		// refused
		{in: "8", wantError: true},
		{in: "10000", wantError: true},
		{in: "", wantError: true},
		{in: "-1", wantError: true},
		{in: "u+y", wantError: true},
		{in: "z=r", wantError: true},
		{in: "u+x,", wantError: true},
	}
	for _, tc := range tests {
		c, err := ParseChmod(tc.in)
		if tc.wantError {
			if err == nil || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseChmod(%q) = %v, %v; want an error naming it", tc.in, c, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseChmod(%q): %v", tc.in, err)
			continue
		}
		if got := c.Apply(tc.perm, tc.dir); got != tc.want {
			t.Errorf("ParseChmod(%q).Apply(%#o, dir=%v) = %#o; want %#o", tc.in, tc.perm, tc.dir, got, tc.want)
		}
	}
}
