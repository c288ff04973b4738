package fscopy

import (
	"path/filepath"
	"strings"
	"testing"
)

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\n\napp:x:1000:1001::/home/app:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n"
	group  = "root:x:0:\napp:x:1001:\nstaff:x:50:app\n"
)

func TestLookupOwner(t *testing.T) {
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "plain")
	mkTree(t, plain, dir("etc"), file("etc/passwd", passwd), file("etc/group", group))
	linked := filepath.Join(tmp, "linked") // /etc is an absolute link inside the image
	mkTree(t, linked, dir("real"), dir("real/etc"), file("real/etc/passwd", passwd), file("real/etc/group", group), symlink("etc", "/real/etc"))
	escape := filepath.Join(tmp, "escape") // /etc climbs out: never the host's
	mkTree(t, escape, symlink("etc", "../../../../../../etc"))
	empty := filepath.Join(tmp, "empty")
	mkTree(t, empty, dir("x"))

	tests := []struct {
		root, spec string
		want       Owner
		wantErr    string
	}{
		{plain, "app", Owner{1000, 1001}, ""},
		{plain, "app:staff", Owner{1000, 50}, ""},
		{plain, "app:7", Owner{1000, 7}, ""},
		{plain, "app:", Owner{1000, 1001}, ""},
		{plain, "7:staff", Owner{7, 50}, ""},
		{plain, "1000", Owner{1000, 1000}, ""},
		{plain, "1000:50", Owner{1000, 50}, ""},
		{plain, "root", Owner{0, 0}, ""},
		{plain, "root:staff", Owner{0, 50}, ""},
		{plain, "nobody", Owner{65534, 65534}, ""},
		{linked, "app:staff", Owner{1000, 50}, ""},
		{empty, "0:0", Owner{0, 0}, ""},
		{empty, "root", Owner{0, 0}, ""},
		{plain, "ghost", Owner{}, `unknown user "ghost": not in /etc/passwd`},
		{plain, "app:ghost", Owner{}, `unknown group "ghost": not in /etc/group`},
		{empty, "app", Owner{}, `unknown user "app": no /etc/passwd in the image`},
		{escape, "nobody", Owner{}, `lookup user "nobody"`},
		{plain, "", Owner{}, `invalid user ""`},
		{plain, "a:b:c", Owner{}, `invalid user "a:b:c"`},
		{plain, "99999999999", Owner{}, `invalid id "99999999999"`},
	}
	for _, tc := range tests {
		got, err := LookupOwner(tc.root, tc.spec)
		name := filepath.Base(tc.root)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LookupOwner(%s, %q) = %v, %v; want error containing %q", name, tc.spec, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("LookupOwner(%s, %q) = %v, %v; want %v", name, tc.spec, got, err, tc.want)
		}
	}
}
