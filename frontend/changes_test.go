package frontend

import (
	"context"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	base := v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}}
	for _, tc := range []struct {
		name    string
		changes []string
		check   func(v1.Config) bool
		err     string
	}{
		{"cmd exec form", []string{`CMD ["/app","-v"]`}, func(c v1.Config) bool { return slices.Equal(c.Cmd, []string{"/app", "-v"}) }, ""},
		{"cmd shell form", []string{`CMD echo hi`}, func(c v1.Config) bool { return slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "echo hi"}) }, ""},
		{"env expands", []string{"ENV A=1", "ENV B=$A-x"}, func(c v1.Config) bool { return slices.Contains(c.Env, "B=1-x") && slices.Contains(c.Env, "PATH=/bin") }, ""},
		{"lowercase keyword", []string{"user app"}, func(c v1.Config) bool { return c.User == "app" }, ""},
		{"workdir expose label", []string{"WORKDIR /srv", "EXPOSE 80/tcp", "LABEL a=b"}, func(c v1.Config) bool {
			_, ok := c.ExposedPorts["80/tcp"]
			return c.WorkingDir == "/srv" && ok && c.Labels["a"] == "b"
		}, ""},
		{"entrypoint resets nothing else", []string{`ENTRYPOINT ["/e"]`}, func(c v1.Config) bool { return slices.Equal(c.Entrypoint, []string{"/e"}) }, ""},
		{"stopsignal", []string{"STOPSIGNAL SIGTERM"}, func(c v1.Config) bool { return c.StopSignal == "SIGTERM" }, ""},
		{"run refused", []string{"RUN true"}, nil, "instruction RUN cannot be applied"},
		{"from refused", []string{"FROM x"}, nil, "instruction FROM cannot be applied"},
		{"bad syntax", []string{"EXPOSE notaport"}, nil, "--change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyChanges(context.Background(), base, tc.changes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Fatalf("config = %+v", got)
			}
		})
	}
}
