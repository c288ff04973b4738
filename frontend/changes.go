package frontend

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// changeInstructions are the instructions `docker import --change` accepts:
// those that change only the image config.
var changeInstructions = map[string]bool{
	"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true,
	"HEALTHCHECK": true, "LABEL": true, "ONBUILD": true, "STOPSIGNAL": true,
	"USER": true, "VOLUME": true, "WORKDIR": true,
}

// ApplyChanges applies Dockerfile instructions to cfg as `docker import
// --change` does and returns the new config. Each change is one
// instruction ("CMD [\"/bin/sh\"]", "ENV A=b"); only instructions that
// change the config alone are accepted. The changes are parsed and
// dispatched by the same code as a Dockerfile's, so their syntax and
// variable expansion are the Dockerfile's.
func ApplyChanges(ctx context.Context, cfg v1.Config, changes []string) (v1.Config, error) {
	if len(changes) == 0 {
		return cfg, nil
	}
	var df strings.Builder
	df.WriteString("FROM base\n")
	for i, c := range changes {
		c = strings.TrimSpace(c)
		kw, _, _ := strings.Cut(c, " ")
		kw = strings.ToUpper(kw)
		if !changeInstructions[kw] {
			return cfg, fmt.Errorf("--change %d: %q: instruction %s cannot be applied to an imported image (only CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)", i+1, c, kw)
		}
		if strings.ContainsAny(c, "\n\r") {
			return cfg, fmt.Errorf("--change %d: %q: one instruction per --change, on one line", i+1, c)
		}
		df.WriteString(c)
		df.WriteByte('\n')
	}
	base := &v1.ConfigFile{Config: cfg}
	res, err := Parse(ctx, []byte(df.String()), Options{
		Filename: "--change",
		Resolve: func(context.Context, string, v1.Platform) (*Image, error) {
			return &Image{Ref: "base", Config: base}, nil
		},
	})
	if err != nil {
		return cfg, err
	}
	out := res.Config
	// A FROM gives a base without PATH the default one, as BuildKit does;
	// docker import does not, so neither do the changes.
	if _, had := envValue(cfg.Env, "PATH"); !had {
		out.Env = slices.DeleteFunc(out.Env, func(kv string) bool { return kv == "PATH="+defaultPathEnv })
	}
	return out, nil
}
