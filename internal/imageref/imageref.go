// Package imageref owns the one spelling of image names that bld records
// and compares: Normalize gives the full form the store records and the
// exporters write ("app" is "docker.io/library/app:latest"), Familiar the
// short form Docker prints ("app:latest"). Parsing is go-containerregistry's
// name package; only the spelling rules are here.
package imageref

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Normalize returns the full form of an image name: "app" is
// "docker.io/library/app:latest", "app:v1" is "docker.io/library/app:v1",
// "localhost:5000/app:v1" stays as it is, and a digest reference keeps its
// digest ("docker.io/library/app@sha256:…").
func Normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	full := reg + "/" + r.Context().RepositoryStr()
	switch r := r.(type) {
	case name.Tag:
		return full + ":" + r.TagStr(), nil
	case name.Digest:
		return full + "@" + r.DigestStr(), nil
	}
	return "", fmt.Errorf("unknown reference type %T", r)
}

// Familiar returns the short form of a name Normalize returned: without
// "docker.io/library/" or "docker.io/" ("docker.io/library/app:latest" is
// "app:latest").
func Familiar(full string) string {
	if s, ok := strings.CutPrefix(full, "docker.io/library/"); ok {
		return s
	}
	return strings.TrimPrefix(full, "docker.io/")
}
