package check

import (
	"slices"
	"strings"
	"testing"
)

// ruleCase is one Dockerfile and the lines where one rule must fire; nil
// lines means the rule must not fire.
type ruleCase struct {
	name  string
	rule  string
	df    string
	opt   Options
	lines []int
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			fs, err := Check([]byte(tc.df), tc.opt)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := linesOf(fs, tc.rule); !slices.Equal(got, tc.lines) {
				t.Errorf("%s fired at lines %v, want %v\nfindings:\n%s", tc.rule, got, tc.lines, dump(fs))
			}
		})
	}
}

func linesOf(fs []Finding, rule string) []int {
	var ls []int
	for _, f := range fs {
		if f.Rule == rule {
			ls = append(ls, f.Line)
		}
	}
	return ls
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func find(fs []Finding, rule string) (Finding, bool) {
	for _, f := range fs {
		if f.Rule == rule {
			return f, true
		}
	}
	return Finding{}, false
}

func TestShellFormAsPID1(t *testing.T) {
	const r = "ShellFormAsPID1"
	runRuleCases(t, []ruleCase{
		{"shell form CMD", r, "FROM alpine\nUSER 1000\nCMD node server.js\n", Options{}, []int{3}},
		{"shell form ENTRYPOINT", r, "FROM alpine\nUSER 1000\nENTRYPOINT node server.js\n", Options{}, []int{3}},
		{"sh -c without exec", r, "FROM alpine\nUSER 1000\nCMD [\"sh\", \"-c\", \"node server.js\"]\n", Options{}, []int{3}},
		{"bash -ec without exec", r, "FROM alpine\nUSER 1000\nENTRYPOINT [\"/bin/bash\", \"-ec\", \"migrate; node server.js\"]\n", Options{}, []int{3}},
		{"shell CMD behind entrypoint script", r, "FROM node:20-slim\nUSER 1000\nENTRYPOINT [\"/docker-entrypoint.sh\"]\nCMD npm start\n", Options{}, []int{4}},
		{"inherited from parent stage", r, "FROM alpine AS base\nCMD node s.js\nFROM base\nUSER 1\n", Options{}, []int{2}},
		{"exec form", r, "FROM alpine\nUSER 1000\nCMD [\"node\", \"server.js\"]\n", Options{}, nil},
		{"shell form with exec", r, "FROM alpine\nUSER 1000\nCMD exec node server.js\n", Options{}, nil},
		{"sh -c ending in exec", r, "FROM alpine\nUSER 1000\nCMD [\"sh\", \"-c\", \"migrate && exec node server.js\"]\n", Options{}, nil},
		{"tini entrypoint", r, "FROM alpine\nUSER 1000\nENTRYPOINT [\"tini\", \"--\"]\nCMD node server.js\n", Options{}, nil},
		{"shell script file", r, "FROM alpine\nUSER 1000\nCMD [\"sh\", \"/start.sh\"]\n", Options{}, nil},
		{"only in a build stage", r, "FROM alpine AS build\nCMD make\nFROM alpine\nUSER 1\nCOPY --from=build /a /a\nCMD [\"/a\"]\n", Options{}, nil},
		{"superseded by exec form", r, "FROM alpine\nUSER 1\nCMD node a.js\nCMD [\"node\", \"a.js\"]\n", Options{}, nil},
		{"ENTRYPOINT [] clears", r, "FROM alpine\nUSER 1\nENTRYPOINT []\nCMD [\"x\"]\n", Options{}, nil},
	})
}

func TestShellFormAsPID1Fix(t *testing.T) {
	fs, err := Check([]byte("FROM alpine\nUSER 1\nCMD node server.js\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := find(fs, "ShellFormAsPID1")
	if !ok || f.Fix != `use the exec form: CMD ["node", "server.js"]` {
		t.Errorf("fix = %q", f.Fix)
	}
	if !strings.Contains(f.Message, "SIGTERM") {
		t.Errorf("message does not say why: %q", f.Message)
	}
}

// TestShellFormAsPID1Wrapper: an exec-form shell wrapper is a distinct
// finding that names the shell it makes PID 1.
func TestShellFormAsPID1Wrapper(t *testing.T) {
	for _, tc := range []struct{ df, want, not string }{
		{"FROM alpine\nUSER 1\nCMD [\"bash\", \"-c\", \"node server.js\"]\n",
			`CMD ["bash", "-c", …] (exec form, the command without exec) makes bash PID 1 of the container: bash does not forward SIGTERM`, "/bin/sh"},
		{"FROM alpine\nUSER 1\nENTRYPOINT [\"/bin/ash\", \"-ec\", \"a; b\"]\n",
			`ENTRYPOINT ["/bin/ash", "-ec", …] (exec form, the command without exec) makes ash PID 1`, "/bin/sh"},
		{"FROM alpine\nUSER 1\nCMD node server.js\n", "CMD in shell form makes /bin/sh PID 1", "exec form"},
	} {
		fs, err := Check([]byte(tc.df), Options{})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := find(fs, "ShellFormAsPID1")
		if !strings.Contains(f.Message, tc.want) || strings.Contains(f.Message, tc.not) {
			t.Errorf("%q:\n message %q\n want it to say %q and not %q", tc.df, f.Message, tc.want, tc.not)
		}
	}
}

func TestLayerExplosion(t *testing.T) {
	const r = "LayerExplosion"
	runRuleCases(t, []ruleCase{
		{"three RUNs", r, "FROM alpine\nUSER 1\nRUN a\nRUN b\nRUN c\n", Options{}, []int{3}},
		{"label between", r, "FROM alpine\nUSER 1\nRUN a\nLABEL x=y\nRUN b\nRUN c\n", Options{}, []int{3}},
		{"two RUNs", r, "FROM alpine\nUSER 1\nRUN a\nRUN b\n", Options{}, nil},
		{"COPY between", r, "FROM alpine\nUSER 1\nRUN a\nRUN b\nCOPY x /x\nRUN c\nRUN d\n", Options{}, nil},
		{"ENV between", r, "FROM alpine\nUSER 1\nRUN a\nENV A=1\nRUN b\nRUN c\n", Options{}, nil},
		{"different mounts", r, "FROM alpine\nUSER 1\nRUN --mount=type=cache,target=/c a\nRUN b\nRUN c\n", Options{}, nil},
		{"in a build stage", r, "FROM alpine AS build\nRUN a\nRUN b\nRUN c\nFROM alpine\nUSER 1\nCOPY --from=build /a /a\n", Options{}, nil},
		{"in the parent of the final stage", r, "FROM alpine AS base\nRUN a\nRUN b\nRUN c\nFROM base\nUSER 1\n", Options{}, []int{2}},
		{"apt lists left", r, "FROM debian\nUSER 1\nRUN apt-get update && apt-get install -y curl\n", Options{}, []int{3}},
		{"apt lists removed", r, "FROM debian\nUSER 1\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n", Options{}, nil},
		{"apt cache mount", r, "FROM debian\nUSER 1\nRUN --mount=type=cache,target=/var/lib/apt apt-get update && apt-get install -y curl\n", Options{}, nil},
		{"apk add", r, "FROM alpine\nUSER 1\nRUN apk add curl\n", Options{}, []int{3}},
		{"apk add --no-cache", r, "FROM alpine\nUSER 1\nRUN apk add --no-cache curl\n", Options{}, nil},
		{"pip install", r, "FROM python:3-slim\nUSER 1\nRUN pip install flask\n", Options{}, []int{3}},
		{"python -m pip install", r, "FROM python:3-slim\nUSER 1\nRUN python3 -m pip install flask\n", Options{}, []int{3}},
		{"pip --no-cache-dir", r, "FROM python:3-slim\nUSER 1\nRUN pip install --no-cache-dir flask\n", Options{}, nil},
		{"PIP_NO_CACHE_DIR", r, "FROM python:3-slim\nUSER 1\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask\n", Options{}, nil},
		{"dnf without clean", r, "FROM fedora\nUSER 1\nRUN dnf install -y git\n", Options{}, []int{3}},
		{"dnf with clean", r, "FROM fedora\nUSER 1\nRUN dnf install -y git && dnf clean all\n", Options{}, nil},
		{"caches in a build stage", r, "FROM debian AS build\nRUN apt-get update && apt-get install -y gcc\nFROM scratch\nCOPY --from=build /a /a\nUSER 1\n", Options{}, nil},
	})
}

func TestAptUpdateAlone(t *testing.T) {
	const r = "AptUpdateAlone"
	runRuleCases(t, []ruleCase{
		{"alone", r, "FROM debian\nUSER 1\nRUN apt-get update\nRUN apt-get install -y curl\n", Options{}, []int{3}},
		{"with flags", r, "FROM debian\nUSER 1\nRUN apt-get -q update\n", Options{}, []int{3}},
		{"sudo apt", r, "FROM debian\nUSER 1\nRUN sudo apt update\n", Options{}, []int{3}},
		{"in a build stage too", r, "FROM debian AS b\nRUN apt-get update\nFROM scratch\nUSER 1\n", Options{}, []int{2}},
		{"heredoc", r, "FROM debian\nUSER 1\nRUN <<EOF\napt-get update\nEOF\n", Options{}, []int{3}},
		{"with install", r, "FROM debian\nUSER 1\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n", Options{}, nil},
		{"upgrade", r, "FROM debian\nUSER 1\nRUN apt-get upgrade -y\n", Options{}, nil},
	})
}

func TestCacheBustingCopy(t *testing.T) {
	const r = "CacheBustingCopy"
	runRuleCases(t, []ruleCase{
		{"npm ci after COPY . .", r, "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nUSER 1\n", Options{}, []int{3}},
		{"pip -r after COPY . /app", r, "FROM python:3-slim\nCOPY . /app\nRUN pip install --no-cache-dir -r /app/requirements.txt\nUSER 1\n", Options{}, []int{2}},
		{"go mod download after ADD", r, "FROM golang:1.22 AS b\nADD . /src\nRUN go mod download\nFROM scratch\nUSER 1\n", Options{}, []int{2}},
		{"manifest first", r, "FROM node:20-slim\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\nRUN npm run build\nUSER 1\n", Options{}, nil},
		{"build, not install", r, "FROM node:20-slim\nCOPY . .\nRUN npm run build\nUSER 1\n", Options{}, nil},
		{"COPY --from", r, "FROM node:20 AS a\nFROM node:20-slim\nCOPY --from=a . .\nRUN npm ci\nUSER 1\n", Options{}, nil},
		{"other stage", r, "FROM node:20 AS a\nCOPY . .\nFROM node:20-slim\nRUN npm ci\nUSER 1\n", Options{}, nil},
	})
	fs, _ := Check([]byte("FROM golang:1.22\nCOPY . .\nRUN go mod download\nUSER 1\n"), Options{})
	f, _ := find(fs, r)
	if !strings.Contains(f.Fix, "go.mod go.sum") {
		t.Errorf("fix %q does not name the manifests", f.Fix)
	}
}

func TestRootUser(t *testing.T) {
	const r = "RootUser"
	runRuleCases(t, []ruleCase{
		{"no USER", r, "FROM alpine\nCMD [\"x\"]\n", Options{}, []int{1}},
		{"USER root", r, "FROM alpine\nUSER app\nUSER root\n", Options{}, []int{3}},
		{"USER 0:0", r, "FROM alpine\nUSER 0:0\n", Options{}, []int{2}},
		{"USER 1000", r, "FROM alpine\nUSER 1000\n", Options{}, nil},
		{"USER name", r, "FROM alpine\nRUN adduser -D app\nUSER app\n", Options{}, nil},
		{"nonroot base, resolved", r, "FROM gcr.io/distroless/static:nonroot\nCOPY app /app\n", Options{BaseUser: baseUsers}, nil},
		{"base sets USER app", r, "FROM misc-app:latest\nCOPY app /app\n", Options{BaseUser: baseUsers}, nil},
		{"base sets USER app, via a stage", r, "FROM misc-app:latest AS base\nFROM base\nCMD [\"x\"]\n", Options{BaseUser: baseUsers}, nil},
		{"base sets USER root", r, "FROM rooty\nCMD [\"x\"]\n", Options{BaseUser: baseUsers}, []int{1}},
		{"base sets no USER", r, "FROM alpine\nCMD [\"x\"]\n", Options{BaseUser: baseUsers}, []int{1}},
		{"base not resolved", r, "FROM elsewhere:1\nCMD [\"x\"]\n", Options{BaseUser: baseUsers}, []int{1}},
		{"no resolver, no guess from the name", r, "FROM gcr.io/distroless/static:nonroot\nCOPY app /app\n", Options{}, []int{1}},
		{"scratch", r, "FROM scratch\nCOPY app /app\n", Options{BaseUser: baseUsers}, []int{1}},
		{"USER root over a non-root base", r, "FROM misc-app:latest\nUSER root\n", Options{BaseUser: baseUsers}, []int{2}},
		{"inherited USER", r, "FROM alpine AS base\nUSER 1000\nFROM base\nCMD [\"x\"]\n", Options{}, nil},
		{"root only in build stage", r, "FROM alpine AS b\nUSER root\nFROM alpine\nUSER 1000\n", Options{}, nil},
		{"final stage of many", r, "FROM alpine AS b\nUSER 1000\nFROM alpine\nCOPY --from=b /a /a\n", Options{}, []int{3}},
		{"target stage", r, "FROM alpine AS dev\nFROM alpine AS prod\nUSER 1\n", Options{Target: "dev"}, []int{1}},
	})
}

// baseUsers resolves a few images, as a local store would.
func baseUsers(ref string) (string, bool) {
	u, ok := map[string]string{
		"gcr.io/distroless/static:nonroot": "65532",
		"misc-app:latest":                  "app",
		"rooty":                            "root:root",
		"alpine":                           "",
	}[ref]
	return u, ok
}

// TestRootUserMessages: the message says what the base image sets, or
// that it could not be resolved.
func TestRootUserMessages(t *testing.T) {
	for _, tc := range []struct{ df, want string }{
		{"FROM elsewhere:1\n", "its base image elsewhere:1 is not in the local store, so whether the base sets one is unknown"},
		{"FROM alpine\n", "nor does its base image alpine, so the container runs as root"},
		{"FROM rooty\n", "its base image rooty sets USER root:root, so the container runs as root"},
	} {
		fs, err := Check([]byte(tc.df), Options{BaseUser: baseUsers})
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := find(fs, "RootUser"); !ok || !strings.Contains(f.Message, tc.want) {
			t.Errorf("%q: RootUser = %q, want it to say %q", tc.df, f.Message, tc.want)
		}
	}
}

func TestDevBaseInFinalStage(t *testing.T) {
	const r = "DevBaseInFinalStage"
	size := func(n int64) func(string) (int64, bool) {
		return func(string) (int64, bool) { return n, true }
	}
	runRuleCases(t, []ruleCase{
		{"same node", r, "FROM node:20 AS build\nRUN npm run build\nFROM node:20\nCOPY --from=build /app /app\nUSER 1\n", Options{}, []int{3}},
		{"same golang, spelled differently", r, "FROM golang:1.22 AS build\nFROM docker.io/library/golang:1.22\nUSER 1\n", Options{}, []int{2}},
		{"via a shared base stage", r, "FROM python:3.12 AS base\nFROM base AS build\nRUN pip wheel .\nFROM base\nCOPY --from=build /w /w\nUSER 1\n", Options{}, []int{4}},
		{"large local base", r, "FROM alpine AS build\nFROM ubuntu:24.04\nUSER 1\n", Options{BaseSize: size(400 << 20)}, []int{2}},
		{"slim final", r, "FROM node:20 AS build\nFROM node:20-slim\nCOPY --from=build /app /app\nUSER 1\n", Options{}, nil},
		{"distroless final", r, "FROM golang:1.22 AS build\nFROM gcr.io/distroless/static\nUSER 1\n", Options{}, nil},
		{"single stage", r, "FROM node:20\nUSER 1\n", Options{}, nil},
		{"small local base", r, "FROM alpine AS build\nFROM ubuntu:24.04\nUSER 1\n", Options{BaseSize: size(80 << 20)}, nil},
		{"same OS base", r, "FROM debian:12 AS build\nFROM debian:12\nUSER 1\n", Options{}, nil},
	})
	fs, _ := Check([]byte("FROM node:20 AS b\nFROM node:20\nUSER 1\n"), Options{BaseSize: size(1100 << 20)})
	if f, _ := find(fs, r); !strings.Contains(f.Message, "1.1 GiB") {
		t.Errorf("message does not say the size: %q", f.Message)
	}
}

func TestHostUIDMismatch(t *testing.T) {
	const r = "HostUIDMismatch"
	runRuleCases(t, []ruleCase{
		{"numeric uid", r, "FROM alpine\nUSER 1001\nVOLUME /data\n", Options{}, []int{3}},
		{"useradd -u", r, "FROM debian\nRUN useradd -m -u 2000 app\nVOLUME [\"/data\"]\nUSER app\n", Options{}, []int{3}},
		{"system user", r, "FROM alpine\nRUN adduser -S app\nUSER app:app\nVOLUME /data\n", Options{}, []int{4}},
		{"nobody", r, "FROM alpine\nUSER nobody\nVOLUME /data\n", Options{}, []int{3}},
		{"uid 1000", r, "FROM alpine\nUSER 1000\nVOLUME /data\n", Options{}, nil},
		{"no volume", r, "FROM alpine\nUSER 1001\n", Options{}, nil},
		{"unknown uid", r, "FROM debian\nRUN useradd app\nUSER app\nVOLUME /data\n", Options{}, nil},
		{"root", r, "FROM alpine\nUSER root\nVOLUME /data\n", Options{}, nil},
	})
	df := []byte("# check=error=true\nFROM alpine\nUSER 1001\nVOLUME /data\n")
	fs, err := Check(df, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := find(fs, r); f.Severity != Info {
		t.Errorf("severity = %v, want info", f.Severity)
	}
	if Failed(fs, Options{}, df) {
		t.Errorf("an info finding failed the build:\n%s", dump(fs))
	}
}

func TestSecretInArgOrEnv(t *testing.T) {
	const r = "SecretInArgOrEnv"
	runRuleCases(t, []ruleCase{
		{"COPY .env", r, "FROM alpine\nCOPY .env /app/\nUSER 1\n", Options{}, []int{2}},
		{"COPY id_rsa", r, "FROM alpine\nCOPY id_rsa /root/.ssh/id_rsa\nUSER 1\n", Options{}, []int{2}},
		{"ADD a pem", r, "FROM alpine\nADD certs/server.pem /etc/ssl/\nUSER 1\n", Options{}, []int{2}},
		{"COPY .npmrc in a build stage", r, "FROM node:20 AS b\nCOPY .npmrc ./\nFROM scratch\nUSER 1\n", Options{}, []int{2}},
		{"AWS key in ENV", r, "FROM alpine\nENV AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nUSER 1\n", Options{}, []int{2}},
		{"password in URL", r, "FROM alpine\nENV DATABASE_URL=postgres://app:hunter2@db/app\nUSER 1\n", Options{}, []int{2}},
		{"token in global ARG", r, "ARG GH=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\nFROM alpine\nUSER 1\n", Options{}, []int{1}},
		{"env template", r, "FROM alpine\nCOPY .env.example /app/.env\nUSER 1\n", Options{}, nil},
		{"public key", r, "FROM alpine\nCOPY id_rsa.pub /root/.ssh/\nUSER 1\n", Options{}, nil},
		{"from another stage", r, "FROM alpine AS b\nFROM alpine\nCOPY --from=b /app/.env /app/\nUSER 1\n", Options{}, nil},
		{"URL without password", r, "FROM alpine\nENV DATABASE_URL=postgres://db/app\nUSER 1\n", Options{}, nil},
		{"password from a variable", r, "FROM alpine\nARG PASS\nENV DATABASE_URL=postgres://app:${PASS}@db/app\nUSER 1\n", Options{}, nil},
	})
}

func TestDemoRunsClean(t *testing.T) {
	for _, df := range []string{
		"FROM busybox\nCOPY hello.txt /app/\nUSER 1000\nCMD [\"cat\", \"/app/hello.txt\"]\n",
		"ARG BASE=busybox\nFROM $BASE\nWORKDIR /app\nCOPY hello.txt world.txt ./\nRUN cat hello.txt world.txt > both.txt\nUSER 65534:65534\nENTRYPOINT [\"cat\"]\nCMD [\"both.txt\"]\n",
		"FROM busybox AS build\nRUN echo hi > /greeting\nFROM busybox\nCOPY --from=build /greeting /\nUSER 1000\nCMD [\"cat\", \"/greeting\"]\n",
		// Good practice in three languages.
		`# syntax=docker/dockerfile:1
FROM node:20 AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/dist ./dist
COPY --from=build /app/node_modules ./node_modules
USER node
EXPOSE 3000
CMD ["node", "dist/server.js"]
`,
		`FROM golang:1.22 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
`,
		`FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN useradd --uid 10001 app
USER app
CMD ["gunicorn", "app:app"]
`,
	} {
		fs, err := Check([]byte(df), Options{ContextDir: t.TempDir(), BaseUser: baseUsers})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if len(fs) != 0 {
			t.Errorf("findings for a clean Dockerfile:\n%s\n%s", df, dump(fs))
		}
	}
}

func TestTargetLimitsStages(t *testing.T) {
	df := []byte("FROM alpine AS other\nCMD [\"a\"]\nCMD [\"b\"]\nFROM alpine AS final\nUSER 1\n")
	fs, err := Check(df, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(fs, "MultipleInstructionsDisallowed"); !slices.Equal(got, []int{2}) {
		t.Errorf("without target: %v", got)
	}
	fs, err = Check(df, Options{Target: "final"})
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(fs, "MultipleInstructionsDisallowed"); got != nil {
		t.Errorf("stage not needed by the target was checked: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, df string
		opt      Options
		want     string
	}{
		{"unknown instruction", "FROM alpine\nFOO bar\n", Options{}, "Dockerfile:2: unknown instruction: FOO"},
		{"empty", "", Options{}, "Dockerfile:1: "},
		{"no stages", "ARG A=1\n", Options{Filename: "ci.Dockerfile"}, "ci.Dockerfile:1: dockerfile contains no stages to build"},
		{"bad stage name", "FROM alpine AS 1x\n", Options{}, "Dockerfile:1: invalid name for build stage"},
		{"bad check directive", "# check=bogus\nFROM alpine\n", Options{}, "Dockerfile:1: check directive"},
		{"unknown target", "FROM alpine AS a\n", Options{Target: "b"}, `target stage "b" could not be found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Check([]byte(tc.df), tc.opt)
			if err == nil {
				t.Fatalf("no error; findings:\n%s", dump(fs))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if _, ok := err.(*ParseError); !ok {
				t.Errorf("error is %T, want *ParseError", err)
			}
		})
	}
}

// TestConcurrent backs the claim that Check is safe for concurrent use (run
// with -race).
func TestConcurrent(t *testing.T) {
	done := make(chan []Finding)
	for range 4 {
		go func() {
			fs, _ := Check([]byte(bad), Options{ContextDir: t.TempDir()})
			done <- fs
		}()
	}
	first := <-done
	for range 3 {
		if fs := <-done; !slices.Equal(fs, first) {
			t.Errorf("results differ:\n%s\n%s", dump(fs), dump(first))
		}
	}
}
