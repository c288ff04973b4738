package stepinit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLookupUser(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("# comment\nroot:x:0:0::/root:/bin/sh\n+nis\nbob:x:7:8::/home/bob:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("g1:x:20:bob\ng2:x:21:alice, bob\ng3:x:22:\n"), 0o644)
	tests := []struct {
		spec string
		want User
		err  string
	}{
		{"", User{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}, ""},
		{"bob", User{UID: 7, GID: 8, Groups: []uint32{8, 20, 21}, Home: "/home/bob"}, ""},
		{"7:g3", User{UID: 7, GID: 22, Groups: []uint32{22}, Home: "/home/bob"}, ""},
		{"99:98", User{UID: 99, GID: 98, Groups: []uint32{98}, Home: "/"}, ""},
		{"99", User{UID: 99, GID: 0, Groups: []uint32{0}, Home: "/"}, ""},
		{"carol", User{}, `user "carol": no such user in /etc/passwd`},
		{"bob:nogroup", User{}, `group "nogroup": no such group in /etc/group`},
		{":5", User{}, `user ":5": no user name`},
	}
	for _, tc := range tests {
		got, err := LookupUser(root, tc.spec)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("LookupUser(%q) = %v, want error %s", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("LookupUser(%q) = %+v, %v, want %+v", tc.spec, got, err, tc.want)
		}
	}
}

// EncodeConfig and DecodeConfig: the config round-trips, its seccomp
// filter sent as raw bytes after the JSON; a config cut short is an error,
// never a config with a shorter filter or none.
func TestConfigEncoding(t *testing.T) {
	cfg := Config{Args: []string{"sh", "-c", "true"}, Env: []string{"A=1"}, Hostname: "h", NetUp: 6, JoinNet: true,
		Seccomp: bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 2000), Files: map[string][]byte{"hosts": []byte("127.0.0.1 localhost\n")}}
	b, err := EncodeConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := DecodeConfig(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, cfg)
	}
	jsonEnd := 8 + int(binary.LittleEndian.Uint32(b))
	for _, n := range []int{0, 7, 8, 10, jsonEnd - 1, jsonEnd, jsonEnd + 8, len(b) - 1} {
		if err := DecodeConfig(b[:n], &Config{}); err == nil {
			t.Errorf("a config cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if err := DecodeConfig(append(b, 0), &Config{}); err == nil {
		t.Error("a config with a byte more decoded")
	}
}
