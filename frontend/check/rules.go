package check

import (
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

// A Rule is one check Check can run.
type Rule struct {
	Name     string
	Short    string   // one line: what the rule looks for
	Explain  string   // the longer explanation `bld lint --explain` prints
	Severity Severity // before error=true
	BuildKit bool     // one of BuildKit's own rules
}

// ruleDef is a rule with what the linter and the findings need.
type ruleDef struct {
	rule Rule
	lint linter.LinterRuleI
	fix  string // default one-line fix
	url  string
}

func bldRule(name, short string) *linter.LinterRule[func() string] {
	return &linter.LinterRule[func() string]{Name: name, Description: short}
}

// bld's own rules.
var (
	ruleShellFormAsPID1     = bldRule("ShellFormAsPID1", "The container's main process should not be a shell that ignores SIGTERM")
	ruleLayerExplosion      = bldRule("LayerExplosion", "RUN steps that could be one, and package-manager caches left in a layer")
	ruleAptUpdateAlone      = bldRule("AptUpdateAlone", "apt-get update should run in the same RUN as apt-get install")
	ruleCacheBustingCopy    = bldRule("CacheBustingCopy", "Copy the dependency manifest and install dependencies before copying the whole context")
	ruleMissingDockerignore = bldRule("MissingDockerignore", "The whole context is copied and holds files a .dockerignore should exclude")
	ruleRootUser            = bldRule("RootUser", "The image should not run as root")
	ruleDevBaseInFinalStage = bldRule("DevBaseInFinalStage", "The final stage of a multi-stage build should start from a slim runtime base")
	ruleHostUIDMismatch     = bldRule("HostUIDMismatch", "A VOLUME written by a non-root user whose uid is not the usual host uid 1000")
	ruleSecretInArgOrEnv    = bldRule("SecretInArgOrEnv", "Credentials should not be baked into ARG/ENV values or copied into a layer")
)

var bldRules = []*ruleDef{
	{lint: ruleShellFormAsPID1, rule: Rule{Severity: Warning, Explain: `When CMD or ENTRYPOINT is written in shell form (CMD node server.js), the
container's PID 1 is /bin/sh, not your program; in exec form as a shell
wrapper (["bash", "-c", "..."]), it is that shell (bash here), a distinct
finding that names it. PID 1 gets no default signal handlers, and the shell
does not forward SIGTERM to its child: "docker stop" waits its grace period (10 s) and then SIGKILLs
everything, so the program never shuts down cleanly (open connections are
cut, buffers are not flushed). Only the final stage matters: it is the one
that runs.

Fix it with the exec form, CMD ["node", "server.js"]; or, when you need the
shell (variables, &&), make the last command replace the shell:
CMD ["sh", "-c", "migrate && exec node server.js"]; or run a small init as
PID 1 that forwards signals and reaps zombies: ENTRYPOINT ["tini", "--"].
An ENTRYPOINT that is an init (tini, dumb-init, catatonit) silences the rule.`}},
	{lint: ruleLayerExplosion, rule: Rule{Severity: Warning, Explain: `Two kinds of waste in the layers of the image you ship (the final stage and
the stages it is built FROM; build stages that are only copied from do not
ship their layers):

- Three or more RUN steps in a row, with nothing between them that changes
  how RUN behaves (COPY, ADD, ENV, ARG, WORKDIR, USER, SHELL), and the same
  RUN flags. Each is a layer: more to pull, more metadata, and a file written
  in one step and deleted in the next still ships in the first. Join them
  with &&. (Two in a row are often a deliberate cache split, so they pass.)
- Package-manager caches left in the layer of the RUN that made them:
  apt-get update without rm -rf /var/lib/apt/lists/* in the same RUN
  (tens of MB of package lists), apk add without --no-cache, pip install
  without --no-cache-dir (or PIP_NO_CACHE_DIR), yum/dnf install without a
  clean in the same RUN. Deleting them in a later RUN does not help: the
  bytes are already in the earlier layer. A RUN --mount=type=cache on the
  cache directory is fine: the cache never enters the layer.`}},
	{lint: ruleAptUpdateAlone, rule: Rule{Severity: Warning, Explain: `RUN apt-get update on its own is cached as a layer like any other step. The
next time the Dockerfile changes below it, apt-get install runs against the
package lists of that old layer: it installs stale versions, or fails with
404s once the mirrors have moved on. It also leaves the lists in a layer.

Update, install and clean up in one RUN:
  RUN apt-get update && apt-get install -y --no-install-recommends curl \
   && rm -rf /var/lib/apt/lists/*`}},
	{lint: ruleCacheBustingCopy, rule: Rule{Severity: Warning, Explain: `A COPY of the whole context (COPY . .) changes its cache key whenever any
file in the context changes. Every step after it runs again: if one of them
installs dependencies (npm ci, yarn, pnpm install, pip install -r,
poetry install, go mod download, bundle install, cargo fetch, composer
install, dotnet restore, mvn dependency:go-offline), every one-line source
edit downloads all dependencies again.

Copy only the dependency manifests first, install, then copy the rest:
  COPY package.json package-lock.json ./
  RUN npm ci
  COPY . .`}},
	{lint: ruleMissingDockerignore, rule: Rule{Severity: Warning, Explain: `A COPY or ADD of the whole context (COPY . .) takes everything the
.dockerignore does not exclude. bld reads and hashes all of it on every
build, and it lands in the image: .git (history, sometimes credentials),
node_modules or virtualenvs built for the host, .env files and keys, logs.
The finding names what would be sent and its size; it needs the context
(bld lint CONTEXT).

Add a .dockerignore next to the Dockerfile listing them, e.g.
  .git
  **/node_modules
  .env
  *.log`}},
	{lint: ruleRootUser, rule: Rule{Severity: Warning, Explain: `The final stage ends with no USER (or USER root / 0), so the container runs
as root unless the base image says otherwise. A process that is compromised,
or just buggy, can then write anywhere in the container and, through bind
mounts or a kernel bug, on the host. The base image's USER is read from its
config in the local store (a build reads it again after pulling the base);
when the base is not there, the finding says that it could not tell.

Create a user and switch to it after the steps that need root:
  RUN useradd --uid 10001 --create-home app
  USER app
or, on distroless/scratch, USER 65532.`}},
	{lint: ruleDevBaseInFinalStage, rule: Rule{Severity: Warning, Explain: `A multi-stage build exists to leave the toolchain behind, but the final stage
starts from the same full language image as a build stage (node:20,
python:3.12, golang:1.22, maven, rust...), or from a base image that is
large on this machine (over 300 MiB, when bld knows the local size). The
compilers, headers and package caches of the build image all ship, and every
one of them is attack surface and pull time.

Start the final stage from a runtime variant: node:20-slim, python:3.12-slim,
eclipse-temurin:21-jre, an -alpine tag, gcr.io/distroless/..., or scratch
for a static binary; COPY --from the build stage only what runs.`}},
	{lint: ruleHostUIDMismatch, rule: Rule{Severity: Info, Explain: `The final stage declares a VOLUME and runs as a non-root USER whose uid is
known and is not 1000 (the uid of the first user on most Linux desktops and
CI runners). When that volume is a bind mount of a host directory, the
container's user cannot write files owned by uid 1000, and the files it
creates show up on the host owned by a stranger uid.

Make the uid a build argument and create the user with it:
  ARG UID=1000
  RUN useradd --uid $UID app
  USER app
and build with --build-arg UID=$(id -u); or COPY --chown / chown the volume
path to the uid that will use it. Informational: it never fails a build.`}},
	{lint: ruleSecretInArgOrEnv, rule: Rule{Severity: Warning, Explain: `Values of ARG and ENV are recorded in the image config and history: anyone
who can pull the image can read them. Files copied into a layer stay in it
even if a later step deletes them. This rule reports values that have the
shape of a credential (AWS access keys, GitHub/GitLab/Slack/npm tokens,
private keys, passwords in URLs) and COPY/ADD of files named like keys or
secrets (.env, id_rsa, *.pem, *.key, .npmrc, .netrc...). BuildKit's own
SecretsUsedInArgOrEnv reports ARG/ENV *names* that look secret.

Pass secrets to the one RUN that needs them, without a layer:
  RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci
built with --secret id=npmrc,src=$HOME/.npmrc; give runtime secrets to the
container when it starts, not to the image.`}},
}

// Default fixes for the findings of bld's rules (most findings say more).
var bldFixes = map[string]string{
	"ShellFormAsPID1":     `use the exec form (CMD ["prog", "arg"]), start the command with exec, or add ENTRYPOINT ["tini", "--"]`,
	"LayerExplosion":      "join the steps with && and clean caches in the same RUN",
	"AptUpdateAlone":      "RUN apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*",
	"CacheBustingCopy":    "COPY the dependency manifest, RUN the install, then COPY . .",
	"MissingDockerignore": "add a .dockerignore that excludes these paths",
	"RootUser":            "add USER with a non-root user (e.g. USER 65532) at the end of the final stage",
	"DevBaseInFinalStage": "start the final stage from a slim, alpine or distroless variant",
	"HostUIDMismatch":     "ARG UID=1000, create the user with --uid $UID, build with --build-arg UID=$(id -u)",
	"SecretInArgOrEnv":    "use RUN --mount=type=secret, or pass the value to the container at run time",
}

// BuildKit's rules, with a one-line fix each.
var bkRules = []struct {
	lint                        linter.LinterRuleI
	description, url, fix, note string
}{
	{&linter.RuleStageNameCasing, linter.RuleStageNameCasing.Description, linter.RuleStageNameCasing.URL, "write the stage name in lowercase", ""},
	{&linter.RuleFromAsCasing, linter.RuleFromAsCasing.Description, linter.RuleFromAsCasing.URL, "write FROM ... AS (or from ... as) in one case", ""},
	{&linter.RuleNoEmptyContinuation, linter.RuleNoEmptyContinuation.Description, linter.RuleNoEmptyContinuation.URL, "remove the empty line inside the continued instruction", ""},
	{&linter.RuleConsistentInstructionCasing, linter.RuleConsistentInstructionCasing.Description, linter.RuleConsistentInstructionCasing.URL, "write every instruction in the same case", ""},
	{&linter.RuleDuplicateStageName, linter.RuleDuplicateStageName.Description, linter.RuleDuplicateStageName.URL, "give each stage a unique name", ""},
	{&linter.RuleReservedStageName, linter.RuleReservedStageName.Description, linter.RuleReservedStageName.URL, "rename the stage: scratch and context are reserved", ""},
	{&linter.RuleJSONArgsRecommended, linter.RuleJSONArgsRecommended.Description, linter.RuleJSONArgsRecommended.URL, `use the exec form: CMD ["prog", "arg"]`, ""},
	{&linter.RuleMaintainerDeprecated, linter.RuleMaintainerDeprecated.Description, linter.RuleMaintainerDeprecated.URL, `use LABEL org.opencontainers.image.authors="..."`, ""},
	{&linter.RuleUndefinedArgInFrom, linter.RuleUndefinedArgInFrom.Description, linter.RuleUndefinedArgInFrom.URL, "declare the ARG before the first FROM", ""},
	{&linter.RuleWorkdirRelativePath, linter.RuleWorkdirRelativePath.Description, linter.RuleWorkdirRelativePath.URL, "use an absolute WORKDIR path", ""},
	{&linter.RuleUndefinedVar, linter.RuleUndefinedVar.Description, linter.RuleUndefinedVar.URL, "declare the variable with ARG or ENV before using it, or fix its spelling", "\n\nbld does not pull base images to lint: in a stage whose base is an image other\nthan scratch it reports only names that look like typos of a known variable."},
	{&linter.RuleMultipleInstructionsDisallowed, linter.RuleMultipleInstructionsDisallowed.Description, linter.RuleMultipleInstructionsDisallowed.URL, "keep only the last one: the others are ignored", ""},
	{&linter.RuleLegacyKeyValueFormat, linter.RuleLegacyKeyValueFormat.Description, linter.RuleLegacyKeyValueFormat.URL, "write key=value", ""},
	{&linter.RuleRedundantTargetPlatform, linter.RuleRedundantTargetPlatform.Description, linter.RuleRedundantTargetPlatform.URL, "remove --platform=$TARGETPLATFORM", ""},
	{&linter.RuleSecretsUsedInArgOrEnv, linter.RuleSecretsUsedInArgOrEnv.Description, linter.RuleSecretsUsedInArgOrEnv.URL, "use RUN --mount=type=secret instead of ARG/ENV", ""},
	{&linter.RuleInvalidDefaultArgInFrom, linter.RuleInvalidDefaultArgInFrom.Description, linter.RuleInvalidDefaultArgInFrom.URL, "give the ARG a default that makes a valid image name", ""},
	{&linter.RuleFromPlatformFlagConstDisallowed, linter.RuleFromPlatformFlagConstDisallowed.Description, linter.RuleFromPlatformFlagConstDisallowed.URL, "use --platform=$BUILDPLATFORM (or another variable), or name the stage after the platform", ""},
	{&linter.RuleCopyIgnoredFile, linter.RuleCopyIgnoredFile.Description, linter.RuleCopyIgnoredFile.URL, "remove the file from .dockerignore or from the COPY", "\n\nbld checks this when it has the context's .dockerignore."},
	{&linter.RuleInvalidDefinitionDescription, linter.RuleInvalidDefinitionDescription.Description, linter.RuleInvalidDefinitionDescription.URL, "start the comment with the name it describes, or separate it with an empty line", "\n\nExperimental in BuildKit: enable it with # check=experimental=InvalidDefinitionDescription."},
	{&linter.RuleExposeProtoCasing, linter.RuleExposeProtoCasing.Description, linter.RuleExposeProtoCasing.URL, "write the protocol in lowercase: 80/tcp", ""},
	{&linter.RuleExposeInvalidFormat, linter.RuleExposeInvalidFormat.Description, linter.RuleExposeInvalidFormat.URL, "EXPOSE only the container port; map host ports at run time", ""},
}

// registry maps every rule name to its definition; built once, read-only.
var registry = func() map[string]*ruleDef {
	m := map[string]*ruleDef{}
	for _, d := range bldRules {
		d.rule.Name = d.lint.RuleName()
		d.rule.Short = d.lint.(*linter.LinterRule[func() string]).Description
		d.fix = bldFixes[d.rule.Name]
		m[d.rule.Name] = d
	}
	for _, b := range bkRules {
		n := b.lint.RuleName()
		explain := b.description + "." + b.note + "\n\nFix: " + b.fix + "."
		if b.url != "" {
			explain += "\nSee " + b.url
		}
		m[n] = &ruleDef{
			rule: Rule{Name: n, Short: b.description, Explain: explain, Severity: Warning, BuildKit: true},
			lint: b.lint, fix: b.fix, url: b.url,
		}
	}
	return m
}()

func lookup(name string) *ruleDef { return registry[name] }

// Rules returns every rule Check runs: bld's own, then BuildKit's, each
// sorted by name. BuildKit's InvalidBaseImagePlatform is not among them: it
// needs the pulled base image.
func Rules() []Rule {
	var own, bk []Rule
	for _, d := range registry {
		if d.rule.BuildKit {
			bk = append(bk, d.rule)
		} else {
			own = append(own, d.rule)
		}
	}
	by := func(a, b Rule) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(own, by)
	slices.SortFunc(bk, by)
	return append(own, bk...)
}

// Explain returns the long explanation of the rule called name (case does
// not matter), and false if there is no such rule.
func Explain(name string) (string, bool) {
	for n, d := range registry {
		if strings.EqualFold(n, name) {
			return d.rule.Name + ": " + d.rule.Short + "\n\n" + d.rule.Explain + "\n", true
		}
	}
	return "", false
}
