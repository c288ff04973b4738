package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// refusedFlag is a flag of docker buildx build (or of the legacy docker
// build it still parses) that bld does not implement. It is parsed, hidden
// from --help, and refused with why, so that a buildx script stops with a
// reason rather than a usage dump, and nothing is silently ignored. Values
// in same ask for what bld does anyway and are accepted.
type refusedFlag struct {
	name, short string
	boolean     bool
	same        []string
	why         string
}

// refusedFlags is the one list of buildx flags bld refuses; README.md's
// "Refused" sentence names each (flags_test.go checks).
var refusedFlags = []refusedFlag{
	{name: "attest", why: "bld makes no attestations (SBOM or provenance)"},
	{name: "sbom", same: []string{"false", "0"}, why: "bld makes no SBOM attestation"},
	{name: "provenance", same: []string{"false", "0"}, why: "bld makes no provenance attestation"},
	{name: "build-context", why: "named build contexts are not supported: use a stage or an image name in COPY --from / FROM"},
	{name: "call", same: []string{"build", "check"}, why: "only build and check (as --check) are supported"},
	{name: "cgroup-parent", why: "RUN steps get cgroups bld makes under its own; no parent can be chosen"},
	{name: "ssh", why: "SSH agent forwarding is not supported: pass keys with --secret"},
	{name: "detach", boolean: true, same: []string{"false"}, why: "bld has no server to leave a build running in"},
	{name: "debug", short: "D", boolean: true, same: []string{"false"}, why: "bld has no debug shell: use --progress plain for every step's output"},
	{name: "compress", boolean: true, same: []string{"false"}, why: "bld reads the context in place, with no transfer to compress"},
	{name: "cpu-period", why: "use --cpus"},
	{name: "cpu-quota", why: "use --cpus"},
	{name: "cpu-shares", short: "c", why: "use --cpus"},
	{name: "cpuset-cpus", why: "use --cpus"},
	{name: "cpuset-mems", why: "NUMA placement is not supported"},
	{name: "memory-swap", why: "swap is not limited apart from --memory"},
	{name: "security-opt", why: "the RUN sandbox's seccomp profile and capabilities are fixed (see --allow)"},
	{name: "squash", boolean: true, same: []string{"false"}, why: "layers are not squashed"},
	{name: "rm", boolean: true, same: []string{"true"}, why: "bld keeps no intermediate containers to leave behind"},
	{name: "disable-content-trust", boolean: true, same: []string{"true"}, why: "bld verifies no image signatures (Docker Content Trust)"},
	{name: "force-rm", boolean: true, same: []string{"true"}, why: "bld keeps no intermediate containers to leave behind"},
}

// addRefusedFlags adds the refused flags to f, hidden.
func addRefusedFlags(f *pflag.FlagSet) {
	for _, r := range refusedFlags {
		var s string
		fl := f.VarPF(&stringValue{&s}, r.name, r.short, r.why)
		if r.boolean {
			fl.NoOptDefVal = "true"
		}
		fl.Hidden = true
	}
}

// checkRefusedFlags returns an error naming the first refused flag set to a
// value bld does not do anyway, and why.
func checkRefusedFlags(f *pflag.FlagSet) error {
	for _, r := range refusedFlags {
		fl := f.Lookup(r.name)
		if fl == nil || !fl.Changed {
			continue
		}
		v := fl.Value.String()
		if slices.Contains(r.same, strings.ToLower(v)) {
			continue
		}
		if r.boolean && v == "true" {
			return fmt.Errorf("--%s is not supported: %s", r.name, r.why)
		}
		return fmt.Errorf("--%s=%s is not supported: %s", r.name, v, r.why)
	}
	return nil
}

// stringValue is a pflag.Value holding a string, typed "string" in help.
type stringValue struct{ p *string }

func (v *stringValue) String() string     { return *v.p }
func (v *stringValue) Set(s string) error { *v.p = s; return nil }
func (v *stringValue) Type() string       { return "string" }
