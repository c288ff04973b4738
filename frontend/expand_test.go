package frontend

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

// TestExpansion checks ARG and ENV scoping and word expansion, through the
// environment of the last RUN and the config.
func TestExpansion(t *testing.T) {
	tests := []struct {
		name      string
		df        string
		buildArgs map[string]string
		platform  v1.Platform
		runEnv    map[string]string // values in the last RUN's env ("<unset>" for absent)
		config    map[string]string // values in the config's Env
		history   string            // the last history entry, if set
	}{
		{
			name:   "global arg needs redeclaring in a stage",
			df:     "ARG V=1\nARG W=2\nFROM alpine\nARG V\nRUN env",
			runEnv: map[string]string{"V": "1", "W": "<unset>"},
		},
		{
			name:      "build arg overrides global and stage defaults",
			df:        "ARG V=1\nFROM alpine\nARG V\nARG S=def\nRUN env",
			buildArgs: map[string]string{"V": "cli", "S": "cli2", "UNDECLARED": "x"},
			runEnv:    map[string]string{"V": "cli", "S": "cli2", "UNDECLARED": "<unset>"},
			history:   "+ RUN |2 V=cli S=cli2 /bin/sh -c env # buildkit",
		},
		{
			name:   "arg default expands earlier args and env",
			df:     "FROM alpine\nENV BASE=/opt\nARG A=${BASE}/a\nARG B=${MISSING:-fallback}\nARG C=${A:+set}\nRUN env",
			runEnv: map[string]string{"A": "/opt/a", "B": "fallback", "C": "set"},
		},
		{
			name:   "arg after env of the same name wins inside RUN",
			df:     "FROM alpine\nENV MODE=env\nARG MODE=arg\nRUN echo $MODE",
			runEnv: map[string]string{"MODE": "arg"},
			config: map[string]string{"MODE": "env"},
		},
		{
			name:   "env after arg of the same name wins",
			df:     "FROM alpine\nARG MODE=arg\nENV MODE=env\nRUN echo $MODE",
			runEnv: map[string]string{"MODE": "env"},
			config: map[string]string{"MODE": "env"},
		},
		{
			name:   "env sees the base image env, and its own pairs see the old values",
			df:     "FROM golang\nENV GOPATH=/src A=$GOPATH\nENV PATH=$GOPATH/bin:$PATH\nRUN env",
			config: map[string]string{"GOPATH": "/src", "A": "/go", "PATH": "/src/bin:" + basePath[5:] + ":/usr/local/go/bin"},
		},
		{
			name:   "backtick escape keeps backslashes in env values",
			df:     "# escape=`\nFROM alpine\nENV P=C:\\tools\\bin Q=a`$b\nRUN env",
			config: map[string]string{"P": `C:\tools\bin`, "Q": "a$b"},
		},
		{
			name:   "backslash escape",
			df:     "FROM alpine\nENV P=C:\\\\tools Q=a\\$b R='$x' S=\"$HOME\"\nRUN env",
			config: map[string]string{"P": `C:\tools`, "Q": "a$b", "R": "$x", "S": ""},
		},
		{
			name:     "platform args are global, and need an ARG in a stage",
			df:       "FROM --platform=$BUILDPLATFORM alpine\nARG TARGETARCH\nARG TARGETPLATFORM\nRUN env",
			platform: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
			runEnv:   map[string]string{"TARGETARCH": "arm", "TARGETPLATFORM": "linux/arm/v7", "BUILDARCH": "<unset>", "TARGETOS": "<unset>"},
		},
		{
			name:      "proxy args reach RUN without ARG and stay out of history",
			df:        "FROM alpine\nRUN env",
			buildArgs: map[string]string{"http_proxy": "http://p:3128", "NO_PROXY": "localhost"},
			runEnv:    map[string]string{"HTTP_PROXY": "http://p:3128", "http_proxy": "http://p:3128", "NO_PROXY": "localhost", "no_proxy": "localhost"},
			history:   "+ RUN /bin/sh -c env # buildkit",
		},
		{
			name:    "arg inherited from a parent stage",
			df:      "FROM alpine AS base\nARG V=1\nFROM base\nRUN env",
			runEnv:  map[string]string{"V": "1"},
			history: "+ RUN |1 V=1 /bin/sh -c env # buildkit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, nil, tt.df, Options{BuildArgs: tt.buildArgs, Platform: tt.platform})
			run := lastRun(t, res)
			for k, want := range tt.runEnv {
				if got := envOf(run.Env, k); got != want {
					t.Errorf("RUN env %s = %q, want %q (env %q)", k, got, want, run.Env)
				}
			}
			for k, want := range tt.config {
				if got := envOf(res.Config.Env, k); got != want {
					t.Errorf("config env %s = %q, want %q (env %q)", k, got, want, res.Config.Env)
				}
			}
			if tt.history != "" {
				h := history(res)
				if got := h[len(h)-1]; got != tt.history {
					t.Errorf("history = %q, want %q", got, tt.history)
				}
			}
		})
	}
}

// TestExpandedInstructions checks which instructions expand variables.
func TestExpandedInstructions(t *testing.T) {
	df := `ARG TAG=3.20
FROM alpine:${TAG}
ARG DIR=/srv
ARG USR=svc
ENV PORT=8080
WORKDIR $DIR
COPY ${DIR}/a $DIR/b/
USER ${USR}:${USR}
LABEL port=$PORT "k $USR"=v
EXPOSE $PORT
VOLUME $DIR/data
STOPSIGNAL SIG${USR:+TERM}
CMD echo $PORT
RUN echo $PORT
`
	r := newRegistry()
	res := mustParse(t, r, df, Options{})
	if got := r.sortedCalls(); !equal(got, []string{"alpine:3.20 linux/amd64"}) {
		t.Errorf("resolved %q", got)
	}
	c := res.Config
	if c.WorkingDir != "/srv" || c.User != "svc:svc" || c.Labels["port"] != "8080" || c.Labels["k svc"] != "v" ||
		c.StopSignal != "SIGTERM" {
		t.Errorf("config = %+v", c)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ports = %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/srv/data"]; !ok {
		t.Errorf("volumes = %v", c.Volumes)
	}
	if !equal(c.Cmd, []string{"/bin/sh", "-c", "echo $PORT"}) {
		t.Errorf("cmd = %q (CMD is not expanded)", c.Cmd)
	}
	chain := res.Target.Chain()
	cp := chain[2].Op.(*dag.Copy)
	if !equal(cp.Sources, []string{"/srv/a"}) || cp.Dest != "/srv/b/" {
		t.Errorf("copy = %+v", cp)
	}
	if run := lastRun(t, res); run.Args[2] != "echo $PORT" {
		t.Errorf("run args = %q (RUN is not expanded)", run.Args)
	}
}
