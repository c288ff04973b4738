package exporter

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/bldbuild/bld/internal/compress"
)

// Output types, as in OutputSpec.Type.
const (
	TypeImage    = "image"    // the local store; Push also pushes to the registry
	TypeRegistry = "registry" // push to the registry (ParseOutput gives Type image, Push true)
	TypeOCI      = "oci"      // OCI layout: a tar at Dest, or a directory with Tar false
	TypeDocker   = "docker"   // docker-archive tar at Dest
	TypeLocal    = "local"    // the final filesystem in directory Dest
	TypeTar      = "tar"      // the final filesystem as a tar at Dest ("-": standard output)
)

// OutputSpec is one parsed --output.
type OutputSpec struct {
	Type string
	// Dest is a path, or "-" (standard output) for the tar types.
	Dest string
	// Tar is true when type oci or docker writes a tar (the default).
	Tar bool
	// Push is true for type=registry and type=image,push=true.
	Push bool
	// Names are the image names given with name= (comma-separated); the
	// caller adds -t names.
	Names []string
	// Compression is "", gzip, zstd or uncompressed; "" means the default.
	Compression      string
	CompressionLevel int
	ForceCompression bool
	// PreserveOwnership (type=local): keep owners and setuid/setgid bits
	// on the host (LocalOptions).
	PreserveOwnership bool
}

// ParseOutput parses an --output value in buildx syntax: comma-separated
// key=value pairs (CSV quoting, so "name=a,b" in quotes gives two names),
// or a plain path (type local) or "-" (type tar to standard output).
//
//	type=oci,dest=out.tar          type=oci,dest=dir,tar=false
//	type=docker,dest=image.tar     type=registry   type=image,push=true
//	type=local,dest=dir            type=tar,dest=rootfs.tar
//
// Keys: type, dest, tar, push, name, compression (gzip, zstd,
// uncompressed), compression-level, force-compression,
// preserve-ownership (type=local). Errors name the bad
// key or value.
func ParseOutput(spec string) (OutputSpec, error) {
	if spec == "" {
		return OutputSpec{}, fmt.Errorf("output: empty")
	}
	if spec == "-" {
		return OutputSpec{Type: TypeTar, Dest: "-"}, nil
	}
	if !strings.Contains(spec, "=") {
		return OutputSpec{Type: TypeLocal, Dest: spec}, nil
	}
	r := csv.NewReader(strings.NewReader(spec))
	r.LazyQuotes = true
	fields, err := r.Read()
	if err != nil {
		return OutputSpec{}, fmt.Errorf("output %q: %w", spec, err)
	}
	var o OutputSpec
	tarSet := false
	for _, f := range fields {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if !ok {
			return OutputSpec{}, fmt.Errorf("output %q: %q is not key=value", spec, f)
		}
		bad := func(err error) error { return fmt.Errorf("output %q: %s=%q: %w", spec, k, v, err) }
		switch k {
		case "type":
			o.Type = v
		case "dest":
			o.Dest = v
		case "tar":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return OutputSpec{}, bad(err)
			}
			o.Tar, tarSet = b, true
		case "push":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return OutputSpec{}, bad(err)
			}
			o.Push = b
		case "name":
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					o.Names = append(o.Names, n)
				}
			}
		case "compression":
			if _, err := compress.MediaType(v); err != nil || v == "" {
				return OutputSpec{}, bad(fmt.Errorf("want gzip, zstd or uncompressed"))
			}
			o.Compression = v
		case "compression-level":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return OutputSpec{}, bad(fmt.Errorf("want a level, like 3"))
			}
			o.CompressionLevel = n
		case "preserve-ownership":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return OutputSpec{}, bad(err)
			}
			o.PreserveOwnership = b
		case "force-compression":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return OutputSpec{}, bad(err)
			}
			o.ForceCompression = b
		default:
			return OutputSpec{}, fmt.Errorf("output %q: unknown key %q", spec, k)
		}
	}

	typ := o.Type
	switch o.Type {
	case TypeRegistry:
		o.Type, o.Push = TypeImage, true
		fallthrough
	case TypeImage:
		if o.Dest != "" {
			return OutputSpec{}, fmt.Errorf("output %q: dest: not for type=%s", spec, typ)
		}
		if tarSet {
			return OutputSpec{}, fmt.Errorf("output %q: tar: not for type=%s", spec, typ)
		}
	case TypeOCI, TypeDocker:
		if !tarSet {
			o.Tar = true
		}
		if o.Type == TypeDocker && !o.Tar {
			return OutputSpec{}, fmt.Errorf("output %q: tar=false: type=docker is always a tar", spec)
		}
		if o.Dest == "" {
			return OutputSpec{}, fmt.Errorf("output %q: dest: required for type=%s", spec, o.Type)
		}
		if o.Dest == "-" && !o.Tar {
			return OutputSpec{}, fmt.Errorf("output %q: dest=-: a directory cannot go to standard output", spec)
		}
	case TypeLocal, TypeTar:
		if o.Dest == "" {
			return OutputSpec{}, fmt.Errorf("output %q: dest: required for type=%s", spec, o.Type)
		}
		if tarSet {
			return OutputSpec{}, fmt.Errorf("output %q: tar: not for type=%s", spec, o.Type)
		}
		if o.Type == TypeLocal && o.Dest == "-" {
			o.Type = TypeTar // buildx: a local output to stdout is a tar
		}
	case "":
		return OutputSpec{}, fmt.Errorf("output %q: type: missing", spec)
	default:
		return OutputSpec{}, fmt.Errorf("output %q: type: unknown type %q (want image, registry, oci, docker, local or tar)", spec, o.Type)
	}
	if o.Push && o.Type != TypeImage {
		return OutputSpec{}, fmt.Errorf("output %q: push: only for type=image or registry", spec)
	}
	return o, nil
}
