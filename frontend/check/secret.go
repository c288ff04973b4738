package check

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// This file holds SecretInArgOrEnv: credential-shaped ARG/ENV values and
// COPY of files named like keys. BuildKit's SecretsUsedInArgOrEnv covers
// secret-looking ARG/ENV names (buildkit.go).

// credentials are value shapes that are credentials whatever the name.
// Compiled on first use, not at every bld start.
var credentials = sync.OnceValue(func() []credentialShape {
	return []credentialShape{
		{"an AWS access key", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
		{"a GitHub token", regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`)},
		{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
		{"a Slack token", regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
		{"an npm token", regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
		{"a Stripe secret key", regexp.MustCompile(`\b(?:sk|rk)_live_[A-Za-z0-9]{20,}`)},
		{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`)},
		{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY`)},
		{"a password in a URL", regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@$]+:[^/\s@$]+@`)},
	}
})

type credentialShape struct {
	what string
	re   *regexp.Regexp
}

func credential(v string) (string, bool) {
	if len(v) < 8 {
		return "", false
	}
	for _, c := range credentials() {
		if c.re.MatchString(v) {
			return c.what, true
		}
	}
	return "", false
}

func (c *checker) secrets() {
	for _, s := range c.linted {
		for _, x := range s.inst.Commands {
			switch v := x.(type) {
			case *instructions.EnvCommand:
				for _, kv := range v.Env {
					c.secretValue("ENV", kv.Key, kv.Value, x)
				}
			case *instructions.ArgCommand:
				for _, kv := range v.Args {
					if kv.Value != nil {
						c.secretValue("ARG", kv.Key, *kv.Value, x)
					}
				}
			case *instructions.CopyCommand:
				if v.From == "" {
					c.secretFiles(x, v.SourcePaths)
				}
			case *instructions.AddCommand:
				c.secretFiles(x, v.SourcePaths)
			}
		}
	}
	// Global ARG defaults are written in the Dockerfile as well.
	for _, a := range c.metaCmds {
		for _, kv := range a.Args {
			if kv.Value != nil {
				c.secretValue("ARG", kv.Key, *kv.Value, &a)
			}
		}
	}
}

func (c *checker) secretValue(inst, key, value string, x instructions.Command) {
	what, ok := credential(value)
	if !ok {
		return
	}
	msg := fmt.Sprintf("%s %s holds what looks like %s: ARG and ENV values are saved in the image config and history, where anyone who can pull the image reads them", inst, key, what)
	c.report(ruleSecretInArgOrEnv, x.Location(), x.Comments(), msg, "")
}

func (c *checker) secretFiles(x instructions.Command, srcs []string) {
	for _, src := range srcs {
		if isURL(src) {
			continue
		}
		if !secretFile(path.Base(path.Clean(src))) {
			continue
		}
		msg := fmt.Sprintf("%s copies %s, which is named like a key or secret, into a layer: anyone who can pull the image can read it, even if a later step deletes it", x.Name(), src)
		fix := "mount it only where needed: RUN --mount=type=secret,id=NAME,target=PATH (--mount=type=ssh for SSH keys)"
		c.report(ruleSecretInArgOrEnv, x.Location(), x.Comments(), msg, fix)
	}
}

var secretNames = map[string]bool{
	".env": true, "id_rsa": true, "id_dsa": true, "id_ecdsa": true, "id_ed25519": true,
	".npmrc": true, ".pypirc": true, ".netrc": true, ".git-credentials": true, ".htpasswd": true,
	"credentials": true, "credentials.json": true, ".ssh": true, ".aws": true, ".gnupg": true,
}

var secretExts = map[string]bool{".pem": true, ".key": true, ".p12": true, ".pfx": true, ".jks": true, ".keystore": true, ".ppk": true}

// envTemplates are .env files meant to be committed.
var envTemplates = []string{"example", "sample", "template", "dist", "defaults", "tmpl", "tpl"}

// secretFile reports whether a file or directory name looks like a key or
// secret.
func secretFile(base string) bool {
	b := strings.ToLower(base)
	if secretNames[b] || secretExts[path.Ext(b)] {
		return true
	}
	if strings.HasPrefix(b, ".env.") || strings.HasSuffix(b, ".env") && b != ".env" {
		for _, t := range envTemplates {
			if strings.Contains(b, t) {
				return false
			}
		}
		return true
	}
	return false
}
