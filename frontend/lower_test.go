package frontend

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bldbuild/bld/dag"
)

// runEnv is the environment of a RUN on the test alpine image.
var runEnv = []string{basePath}

// TestLowering checks the ops each filesystem instruction becomes.
func TestLowering(t *testing.T) {
	tests := []struct {
		name string
		df   string // after "FROM alpine\n"
		want []dag.Op
	}{
		{
			name: "copy dest against workdir",
			df:   "WORKDIR /app\nCOPY a .\nCOPY b sub/\nCOPY c sub\nCOPY d /abs//x/\nCOPY e ./.",
			want: []dag.Op{
				&dag.Mkdir{Path: "/app"},
				&dag.Copy{Sources: []string{"a"}, Dest: "/app/"},
				&dag.Copy{Sources: []string{"b"}, Dest: "/app/sub/"},
				&dag.Copy{Sources: []string{"c"}, Dest: "/app/sub"},
				&dag.Copy{Sources: []string{"d"}, Dest: "/abs//x/"},
				&dag.Copy{Sources: []string{"e"}, Dest: "/app/."},
			},
		},
		{
			name: "copy flags",
			df:   "COPY --chown=1000:1000 --chmod=u+x,go-w --link --exclude=*.md --exclude=tmp --parents src/./a/ /dst/",
			want: []dag.Op{
				&dag.Copy{Sources: []string{"src/./a/"}, Dest: "/dst/", Chown: "1000:1000", Chmod: "u+x,go-w",
					Link: true, Exclude: []string{"*.md", "tmp"}, Parents: true},
			},
		},
		{
			name: "add flags",
			df:   "ADD --checksum=sha256:0123 --chmod=600 https://example.com/a.tgz /x/\nADD --keep-git-dir=true https://github.com/o/r.git#v1 /src\nADD app.tar.gz /opt/",
			want: []dag.Op{
				&dag.Copy{Sources: []string{"https://example.com/a.tgz"}, Dest: "/x/", Chmod: "600", Add: true, Checksum: "sha256:0123"},
				&dag.Copy{Sources: []string{"https://github.com/o/r.git#v1"}, Dest: "/src", Add: true, KeepGitDir: true},
				&dag.Copy{Sources: []string{"app.tar.gz"}, Dest: "/opt/", Add: true},
			},
		},
		{
			name: "copy heredocs",
			df:   "ARG NAME=world\nCOPY <<EOF <<\"RAW\" /etc/\nhello $NAME\nEOF\nhello $NAME\nRAW\nCOPY --chmod=755 <<-EOF run.sh\n\t#!/bin/sh\n\techo hi\n\tEOF",
			want: []dag.Op{
				&dag.Copy{Dest: "/etc/", Heredocs: []dag.Heredoc{
					{Name: "EOF", Data: "hello world\n", Expand: true},
					{Name: "RAW", Data: "hello $NAME\n"},
				}},
				&dag.Copy{Dest: "/run.sh", Chmod: "755", Heredocs: []dag.Heredoc{{Name: "EOF", Data: "#!/bin/sh\necho hi\n", Expand: true}}},
			},
		},
		{
			name: "run forms",
			df:   "RUN echo 'a  b' \\\n  && true\nRUN [\"/bin/echo\", \"x\"]\nRUN --network=none ping -c1 x\nRUN --network=host true",
			want: []dag.Op{
				&dag.Run{Args: []string{"/bin/sh", "-c", "echo 'a  b'   && true"}, Env: runEnv, Dir: "/"},
				&dag.Run{Args: []string{"/bin/echo", "x"}, Env: runEnv, Dir: "/"},
				&dag.Run{Args: []string{"/bin/sh", "-c", "ping -c1 x"}, Env: runEnv, Dir: "/", Network: "none"},
				&dag.Run{Args: []string{"/bin/sh", "-c", "true"}, Env: runEnv, Dir: "/", Network: "host"},
			},
		},
		{
			name: "run user, dir and workdir owner",
			df:   "USER app\nWORKDIR /home/app\nRUN id",
			want: []dag.Op{
				&dag.Mkdir{Path: "/home/app", User: "app"},
				&dag.Run{Args: []string{"/bin/sh", "-c", "id"}, Env: runEnv, User: "app", Dir: "/home/app"},
			},
		},
		{
			name: "run mounts",
			df: "WORKDIR /src\nARG CACHE=/root/.cache\n" +
				"RUN --mount=type=cache,target=$CACHE,sharing=locked,id=go,mode=0700,uid=1000 " +
				"--mount=type=bind,source=go.mod,target=go.mod " +
				"--mount=type=bind,target=/w,rw " +
				"--mount=type=tmpfs,target=/tmp,size=64m " +
				"--mount=type=secret,id=npmrc " +
				"--mount=type=secret,id=tok,env=TOKEN,required " +
				"--mount=type=ssh " +
				"--mount=type=cache,target=rel make",
			want: []dag.Op{
				&dag.Mkdir{Path: "/src"},
				&dag.Run{
					Args: []string{"/bin/sh", "-c", "make"},
					Env:  append(runEnv, "CACHE=/root/.cache"),
					Dir:  "/src",
					Mounts: []dag.RunMount{
						{Type: "cache", Target: "/root/.cache", Source: "/", ReadWrite: true, ID: "go", Sharing: "locked", Mode: 0o700, UID: 1000, GID: -1},
						{Type: "bind", Target: "/src/go.mod", Source: "/go.mod", UID: -1, GID: -1},
						{Type: "bind", Target: "/w", Source: "/", ReadWrite: true, UID: -1, GID: -1},
						{Type: "tmpfs", Target: "/tmp", ReadWrite: true, Size: 64 << 20, UID: -1, GID: -1},
						{Type: "secret", Target: "/run/secrets/npmrc", ID: "npmrc", UID: -1, GID: -1},
						{Type: "secret", ID: "tok", Env: "TOKEN", Required: true, UID: -1, GID: -1},
						{Type: "ssh", ID: "default", UID: -1, GID: -1},
						{Type: "cache", Target: "/src/rel", Source: "/", ReadWrite: true, ID: "rel", Sharing: "shared", UID: -1, GID: -1},
					},
				},
			},
		},
		{
			name: "run heredoc runs the body with the shell",
			df:   "RUN <<EOF\nset -e\necho $HOME\nEOF\nRUN <<-EOT\n\techo tabs\n\tEOT",
			want: []dag.Op{
				&dag.Run{Args: []string{"/bin/sh", "-c", "set -e\necho $HOME\n"}, Env: runEnv, Dir: "/"},
				&dag.Run{Args: []string{"/bin/sh", "-c", "echo tabs\n"}, Env: runEnv, Dir: "/"},
			},
		},
		{
			name: "run heredoc with a shebang is a script file",
			df:   "RUN <<PY\n#!/usr/bin/env python3\nprint('hi')\nPY",
			want: []dag.Op{
				&dag.Run{Args: []string{"/bin/sh", "-c", "/dev/pipes/PY"}, Env: runEnv, Dir: "/",
					Heredocs: []dag.Heredoc{{Name: "PY", Data: "#!/usr/bin/env python3\nprint('hi')\n"}}},
			},
		},
		{
			name: "run heredocs fed to a command",
			df:   "RUN python3 <<EOF\nprint(1)\nEOF\nRUN cat <<A > /a && cat <<B > /b\na\nA\nb\nB",
			want: []dag.Op{
				&dag.Run{Args: []string{"/bin/sh", "-c", "python3 <<EOF\nprint(1)\nEOF"}, Env: runEnv, Dir: "/"},
				&dag.Run{Args: []string{"/bin/sh", "-c", "cat <<A > /a && cat <<B > /b\na\nA\nb\nB"}, Env: runEnv, Dir: "/"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, nil, "FROM alpine\n"+tt.df, Options{})
			got := ops(res)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d ops, want %d: %s", len(got), len(tt.want), encodeAll(got))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("op %d:\n got %s\nwant %s", i, dag.Encode(got[i]), dag.Encode(tt.want[i]))
				}
			}
		})
	}
}

func encodeAll(ops []dag.Op) string {
	var s []string
	for _, op := range ops {
		s = append(s, string(dag.Encode(op)))
	}
	return strings.Join(s, "\n")
}

// TestProgressNames checks BuildKit's "[stage i/n] INSTR" labels and
// vertex positions.
func TestProgressNames(t *testing.T) {
	df := `FROM alpine AS build
ARG V=1
WORKDIR /src
COPY . .
RUN make V=$V
FROM scratch
COPY --from=build /src/app /app
`
	res := mustParse(t, nil, df, Options{})
	want := []string{
		"FROM scratch",
		"[stage-1 1/1] COPY --from=build /src/app /app",
	}
	if got := names(res); !equal(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
	build := res.Target.Inputs[1]
	want = []string{
		"[build 1/4] FROM docker.io/library/alpine@" + digestOf("alpine").String(),
		"[build 2/4] WORKDIR /src",
		"[build 3/4] COPY . .",
		"[build 4/4] RUN make V=1",
	}
	var got []string
	for _, v := range build.Chain() {
		got = append(got, v.Name)
		if v.Stage != "build" || v.Pos.File != "Dockerfile" {
			t.Errorf("vertex %q: stage %q pos %v", v.Name, v.Stage, v.Pos)
		}
	}
	if !equal(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
	if build.Pos.Line != 5 || res.Target.Pos.Line != 7 || res.Target.Stage != "1" {
		t.Errorf("positions %v %v stage %q", build.Pos, res.Target.Pos, res.Target.Stage)
	}

	// A lone stage has no stage name in its labels.
	res = mustParse(t, nil, "FROM alpine\nRUN a\nRUN b\nRUN c\nRUN d\nRUN e\nRUN f\nRUN g\nRUN h\nRUN <<EOF\nx\ny\nEOF", Options{Filename: "app.Dockerfile"})
	got = names(res)
	if got[1] != "[ 2/10] RUN a" || got[9] != "[10/10] RUN <<EOF (x...)" || res.Target.Pos.File != "app.Dockerfile" {
		t.Errorf("names = %q, pos %v", got, res.Target.Pos)
	}
}
