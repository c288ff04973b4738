package frontend

import (
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// alpineConfig returns the config of the test alpine image changed by f.
func alpineConfig(f func(c *v1.Config)) v1.Config {
	c := v1.Config{Env: []string{basePath}, Cmd: []string{"/bin/sh"}}
	if f != nil {
		f(&c)
	}
	return c
}

// TestInstructionConfig checks each instruction's effect on the image
// config and the history entries it adds, as BuildKit writes them.
func TestInstructionConfig(t *testing.T) {
	tests := []struct {
		name    string
		df      string // after "FROM alpine\n"
		config  v1.Config
		author  string
		history []string
	}{
		{
			name:    "env",
			df:      "ENV A=b C=\"d e\"\nENV F g h",
			config:  alpineConfig(func(c *v1.Config) { c.Env = append(c.Env, "A=b", "C=d e", "F=g h") }),
			history: []string{"  ENV A=b C=d e", "  ENV F=g h"},
		},
		{
			name:    "env replaces in place",
			df:      "ENV A=1 B=2\nENV A=3",
			config:  alpineConfig(func(c *v1.Config) { c.Env = append(c.Env, "A=3", "B=2") }),
			history: []string{"  ENV A=1 B=2", "  ENV A=3"},
		},
		{
			name:    "label",
			df:      "LABEL a=b \"c d\"=e\nLABEL a=z",
			config:  alpineConfig(func(c *v1.Config) { c.Labels = map[string]string{"a": "z", "c d": "e"} }),
			history: []string{"  LABEL a=b c d=e", "  LABEL a=z"},
		},
		{
			name: "expose ranges and protocols",
			df:   "EXPOSE 8000-8002/tcp 80 53/udp",
			config: alpineConfig(func(c *v1.Config) {
				c.ExposedPorts = map[string]struct{}{"53/udp": {}, "80/tcp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}
			}),
			history: []string{"  EXPOSE [53/udp 80/tcp 8000/tcp 8001/tcp 8002/tcp]"},
		},
		{
			name:    "user",
			df:      "USER app:staff",
			config:  alpineConfig(func(c *v1.Config) { c.User = "app:staff" }),
			history: []string{"  USER app:staff"},
		},
		{
			name:    "workdir relative to the previous",
			df:      "WORKDIR /app\nWORKDIR sub/../src",
			config:  alpineConfig(func(c *v1.Config) { c.WorkingDir = "/app/src" }),
			history: []string{"+ WORKDIR /app", "+ WORKDIR /app/src"},
		},
		{
			name:    "workdir root makes no layer",
			df:      "WORKDIR /",
			config:  alpineConfig(func(c *v1.Config) { c.WorkingDir = "/" }),
			history: []string{"  WORKDIR /"},
		},
		{
			name:    "volume",
			df:      "VOLUME [\"/data\", \"/logs\"]\nVOLUME /cache",
			config:  alpineConfig(func(c *v1.Config) { c.Volumes = map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}} }),
			history: []string{"  VOLUME [/data /logs]", "  VOLUME [/cache]"},
		},
		{
			name:    "stopsignal",
			df:      "STOPSIGNAL SIGQUIT",
			config:  alpineConfig(func(c *v1.Config) { c.StopSignal = "SIGQUIT" }),
			history: []string{"  STOPSIGNAL SIGQUIT"},
		},
		{
			name: "healthcheck with options",
			df:   "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --retries=3 CMD curl -f http://localhost/",
			config: alpineConfig(func(c *v1.Config) {
				c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/"},
					Interval: 5 * time.Second, Timeout: 3 * time.Second, StartPeriod: time.Minute, Retries: 3}
			}),
			history: []string{"  HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:5s Timeout:3s StartPeriod:1m0s StartInterval:0s Retries:3}"},
		},
		{
			name:    "healthcheck exec form",
			df:      `HEALTHCHECK CMD ["/bin/check", "-q"]`,
			config:  alpineConfig(func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}} }),
			history: []string{"  HEALTHCHECK {Test:[CMD /bin/check -q] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}"},
		},
		{
			name:    "healthcheck none",
			df:      "HEALTHCHECK NONE",
			config:  alpineConfig(func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}} }),
			history: []string{"  HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}"},
		},
		{
			name: "shell applies to run and cmd",
			df:   "SHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN echo hi | cat\nCMD echo done",
			config: alpineConfig(func(c *v1.Config) {
				c.Shell = []string{"/bin/bash", "-eo", "pipefail", "-c"}
				c.Cmd = []string{"/bin/bash", "-eo", "pipefail", "-c", "echo done"}
				c.ArgsEscaped = true
			}),
			history: []string{
				"  SHELL [/bin/bash -eo pipefail -c]",
				"+ RUN /bin/bash -eo pipefail -c echo hi | cat # buildkit",
				`  CMD ["/bin/bash" "-eo" "pipefail" "-c" "echo done"]`,
			},
		},
		{
			name: "cmd shell form",
			df:   "CMD echo $HOME",
			config: alpineConfig(func(c *v1.Config) {
				c.Cmd = []string{"/bin/sh", "-c", "echo $HOME"}
				c.ArgsEscaped = true
			}),
			history: []string{`  CMD ["/bin/sh" "-c" "echo $HOME"]`},
		},
		{
			name:    "entrypoint resets the inherited cmd",
			df:      `ENTRYPOINT ["/app", "serve"]`,
			config:  alpineConfig(func(c *v1.Config) { c.Entrypoint = []string{"/app", "serve"}; c.Cmd = nil }),
			history: []string{`  ENTRYPOINT ["/app" "serve"]`},
		},
		{
			name: "entrypoint keeps a cmd of the same stage",
			df:   "CMD [\"--help\"]\nENTRYPOINT /app",
			config: alpineConfig(func(c *v1.Config) {
				c.Cmd = []string{"--help"}
				c.ArgsEscaped = true
				c.Entrypoint = []string{"/bin/sh", "-c", "/app"}
			}),
			history: []string{`  CMD ["--help"]`, `  ENTRYPOINT ["/bin/sh" "-c" "/app"]`},
		},
		{
			name:    "onbuild is stored, not recorded",
			df:      "ONBUILD RUN echo hi\nONBUILD COPY . /src",
			config:  alpineConfig(func(c *v1.Config) { c.OnBuild = []string{"RUN echo hi", "COPY . /src"} }),
			history: nil,
		},
		{
			name:    "maintainer",
			df:      "MAINTAINER Jane <jane@example.com>",
			config:  alpineConfig(nil),
			author:  "Jane <jane@example.com>",
			history: []string{"  MAINTAINER Jane <jane@example.com>"},
		},
		{
			name:    "arg is recorded but not in the config",
			df:      "ARG A=1 B\nRUN echo $A",
			config:  alpineConfig(nil),
			history: []string{"  ARG A=1 B", "+ RUN |2 A=1 B= /bin/sh -c echo $A # buildkit"},
		},
		{
			name:    "run exec form",
			df:      `RUN ["echo", "a b"]`,
			config:  alpineConfig(nil),
			history: []string{"+ RUN echo a b # buildkit"},
		},
		{
			name:   "copy and add",
			df:     "COPY --chown=1:2 --chmod=0755 a b /dst/\nCOPY --parents x/./y /\nADD https://example.com/f.tgz /tmp/\nCOPY <<EOF /etc/motd\nhi\nEOF",
			config: alpineConfig(nil),
			history: []string{
				"+ COPY --chown=1:2 --chmod=0755 a b /dst/ # buildkit",
				"+ COPY --parents x/./y / # buildkit",
				"+ ADD https://example.com/f.tgz /tmp/ # buildkit",
				"+ COPY <<EOF /etc/motd # buildkit",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, nil, "FROM alpine\n"+tt.df, Options{})
			if !reflect.DeepEqual(res.Config, tt.config) {
				t.Errorf("config:\n got %+v\nwant %+v", res.Config, tt.config)
			}
			if res.Author != tt.author {
				t.Errorf("author = %q, want %q", res.Author, tt.author)
			}
			if got := history(res); !equal(got, tt.history) {
				t.Errorf("history:\n got %q\nwant %q", got, tt.history)
			}
			for _, s := range res.History {
				if s.History.Comment != historyComment || !s.History.Created.IsZero() {
					t.Errorf("history entry %+v: want comment %q and no time", s.History, historyComment)
				}
			}
		})
	}
}

func TestScratchAndLabels(t *testing.T) {
	res := mustParse(t, nil, "FROM scratch\nLABEL a=1 b=2\nCOPY x /x", Options{Labels: map[string]string{"b": "cli", "c": "3"}})
	want := v1.Config{
		Env:        []string{basePath},
		WorkingDir: "/",
		Labels:     map[string]string{"a": "1", "b": "cli", "c": "3"},
	}
	if !reflect.DeepEqual(res.Config, want) {
		t.Errorf("config:\n got %+v\nwant %+v", res.Config, want)
	}
	if res.Base != nil {
		t.Errorf("Base = %+v, want nil for scratch", res.Base)
	}
	if res.Target.Parent().Op.Kind() != "source" || res.Target.Parent().Parent() != nil {
		t.Errorf("chain = %v, want source then copy", names(res))
	}

	// A base image without PATH gets docker's default; its USER and
	// WORKDIR carry over.
	res = mustParse(t, nil, "FROM userbase\nRUN id", Options{})
	run := lastRun(t, res)
	if run.User != "app" || run.Dir != "/home/app" || res.Author != "someone" {
		t.Errorf("run user %q dir %q author %q, want app, /home/app, someone", run.User, run.Dir, res.Author)
	}
	res = mustParse(t, nil, "FROM nopath\nRUN id", Options{})
	if got := res.Config.Env; !equal(got, []string{"A=1", basePath}) {
		t.Errorf("env = %q, want PATH added", got)
	}
}
