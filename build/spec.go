package build

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bldbuild/bld/internal/optspec"
	"github.com/bldbuild/bld/sandbox"
	"github.com/docker/go-units"
)

// SourceDateEpoch parses a SOURCE_DATE_EPOCH value (seconds since 1970);
// "" is none.
func SourceDateEpoch(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%s: not a number of seconds", s)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// ParseSecrets reads --secret values (id=ID,src=FILE | id=ID,env=VAR |
// id=ID,type=env,src=VAR | id=ID, taken from the environment variable ID,
// as buildx) into the contents by id.
func ParseSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range specs {
		fields, err := secretSyntax.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("--secret %s: %w", spec, err)
		}
		id, _ := fields.Get("id")
		src, _ := fields.Get("src")
		if v, ok := fields.Get("source"); ok {
			src = v
		}
		env, _ := fields.Get("env")
		switch typ, _ := fields.Get("type"); typ {
		case "", "file":
		case "env": // buildx: with type=env, src names the variable
			if env == "" {
				env, src = src, ""
			}
		default:
			return nil, fmt.Errorf("--secret %s: type=%s: want file or env", spec, typ)
		}
		if id == "" {
			return nil, fmt.Errorf("--secret %s: id is required", spec)
		}
		switch {
		case src != "":
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("--secret %s: %w", spec, err)
			}
			out[id] = b
		case env != "":
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, fmt.Errorf("--secret %s: environment variable %s is not set", spec, env)
			}
			out[id] = []byte(v)
		default:
			if v, ok := os.LookupEnv(id); ok {
				out[id] = []byte(v)
			} else {
				return nil, fmt.Errorf("--secret %s: give src=FILE or env=VAR", spec)
			}
		}
	}
	return out, nil
}

// secretSyntax is buildx's --secret: id=ID[,type=file|env][,src=PATH|,env=VAR].
var secretSyntax = optspec.Syntax{Keys: []string{"id", "type", "src", "source", "env"}}

// annotations are --annotation values by target, as buildx's: "KEY=VALUE"
// and "manifest:KEY=VALUE" on the image manifests, "index:KEY=VALUE" on
// a multi-platform build's index, "manifest-descriptor:KEY=VALUE" on the
// index's descriptors of the manifests.
type annotations struct {
	manifest, index, descriptor map[string]string
}

// parseAnnotations reads --annotation values; index and descriptor
// targets need a multi-platform build (multi), and index-descriptor (the
// layout's index.json entry) is refused by name.
func parseAnnotations(specs []string, multi bool) (annotations, error) {
	out := annotations{manifest: map[string]string{}, index: map[string]string{}, descriptor: map[string]string{}}
	for _, spec := range specs {
		kv, dst := spec, out.manifest
		if typ, rest, ok := strings.Cut(spec, ":"); ok && !strings.Contains(typ, "=") {
			switch typ {
			case "manifest":
				kv = rest
			case "index", "manifest-descriptor":
				if !multi {
					return out, fmt.Errorf("--annotation %s: %s annotations need a multi-platform image index (--platform with several platforms)", spec, typ)
				}
				kv, dst = rest, out.index
				if typ == "manifest-descriptor" {
					dst = out.descriptor
				}
			case "index-descriptor":
				return out, fmt.Errorf("--annotation %s: %s annotations are not supported", spec, typ)
			default:
				return out, fmt.Errorf("--annotation %s: unknown target %q (want manifest, index or manifest-descriptor)", spec, typ)
			}
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return out, fmt.Errorf("--annotation %s: want KEY=VALUE", spec)
		}
		dst[k] = v
	}
	return out, nil
}

// ParseKV parses KEY=VALUE flags (--build-arg, --label); with fromEnv a
// bare KEY takes its value from the environment (and is dropped when
// unset), as docker does.
func ParseKV(kvs []string, fromEnv bool) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", kv)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%q: want KEY=VALUE", kv)
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		m[k] = v
	}
	return m, nil
}

// ParseSize reads a size flag ("512m", "1g"); "" is 0 (no limit).
func ParseSize(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %s: not a size", flag, v)
	}
	return n, nil
}

// ParseResources reads --memory, --cpus and --pids-limit into the cgroup
// limits of every RUN step.
func ParseResources(memory string, cpus float64, pids int64) (sandbox.Limits, error) {
	var l sandbox.Limits
	var err error
	if l.Memory, err = ParseSize("--memory", memory); err != nil {
		return l, err
	}
	if cpus < 0 {
		return l, fmt.Errorf("--cpus %v: must be positive", cpus)
	}
	if pids < 0 {
		return l, fmt.Errorf("--pids-limit %d: must be positive", pids)
	}
	l.CPUs, l.Pids = cpus, pids
	return l, nil
}

// ParseAddHosts reads every --add-host (ParseAddHost).
func ParseAddHosts(specs []string) ([]sandbox.Host, error) {
	var out []sandbox.Host
	for _, s := range specs {
		h, err := ParseAddHost(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ParseUlimits reads every --ulimit (ParseUlimit).
func ParseUlimits(specs []string) ([]sandbox.Ulimit, error) {
	var out []sandbox.Ulimit
	for _, s := range specs {
		u, err := ParseUlimit(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
