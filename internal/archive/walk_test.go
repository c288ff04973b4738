package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestWalk(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, body string }{{"a", "one"}, {"d/", ""}, {"d/b", "two"}} {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(e.name, "/") {
			typ = tar.TypeDir
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	stop := errors.New("stop")
	cancelled, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("build cancelled"))
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		data    []byte
		stopAt  string
		want    string // the entries seen, "name=body" joined by " "
		wantErr string
	}{
		{"whole", context.Background(), good, "", "a=one d/= d/b=two", ""},
		{"fn stops it", context.Background(), good, "d/", "a=one d/=", "stop"},
		{"truncated", context.Background(), good[:1024+100], "", "a=one", "read archive: unexpected EOF"},
		{"not a tar", context.Background(), bytes.Repeat([]byte("x"), 1024), "", "", "read archive:"},
		{"empty", context.Background(), nil, "", "", ""},
		{"cancelled", cancelled, good, "", "", "build cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			err := Walk(tc.ctx, bytes.NewReader(tc.data), func(hdr *tar.Header, r io.Reader) error {
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				seen = append(seen, hdr.Name+"="+string(b))
				if hdr.Name == tc.stopAt {
					return stop
				}
				return nil
			})
			if got := strings.Join(seen, " "); got != tc.want {
				t.Errorf("entries %q, want %q", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Walk = %v", err)
			case tc.wantErr == "stop" && !errors.Is(err, stop):
				t.Errorf("Walk = %v, want fn's error as is", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Walk = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
