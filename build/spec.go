package build

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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
// id=ID, taken from the environment variable ID, as buildx) into the
// contents by id.
func ParseSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range specs {
		var id, src, env string
		for _, f := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
			default:
				return nil, fmt.Errorf("--secret %s: unknown key %q", spec, k)
			}
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
