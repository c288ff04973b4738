package exporter

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/bldbuild/bld/internal/compress"
	"github.com/bldbuild/bld/internal/optspec"
)

// Output types, as in OutputSpec.Type.
const (
	TypeImage    = "image"    // the local store; Push also pushes to the registry
	TypeRegistry = "registry" // push to the registry (ParseOutput gives Type image, Push true)
	TypeOCI      = "oci"      // OCI layout: a tar at Dest, or a directory with Tar false
	TypeDocker   = "docker"   // docker-archive tar at Dest; without Dest, load into docker or podman
	TypeLocal    = "local"    // the final filesystem in directory Dest
	TypeTar      = "tar"      // the final filesystem as a tar at Dest ("-": standard output)
)

// outputParse is an OutputSpec being read, and what the keys read so far
// tell beyond it.
type outputParse struct {
	OutputSpec
	tarSet bool
}

// outputKeys are the keys of an --output spec and what each sets; the
// checks that need the whole spec are in ParseOutput.
var outputKeys = map[string]func(p *outputParse, v string) error{
	"type": func(p *outputParse, v string) error { p.Type = v; return nil },
	"dest": func(p *outputParse, v string) error { p.Dest = v; return nil },
	"tar": func(p *outputParse, v string) (err error) {
		p.Tar, err = strconv.ParseBool(v)
		p.tarSet = true
		return err
	},
	"push": func(p *outputParse, v string) (err error) {
		p.Push, err = strconv.ParseBool(v)
		return err
	},
	"name": func(p *outputParse, v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				p.Names = append(p.Names, n)
			}
		}
		return nil
	},
	"compression": func(p *outputParse, v string) error {
		if _, err := compress.MediaType(v); err != nil || v == "" {
			return fmt.Errorf("want gzip, zstd or uncompressed")
		}
		p.Compression = v
		return nil
	},
	"compression-level": func(p *outputParse, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a level, like 3")
		}
		p.CompressionLevel = n
		return nil
	},
	"preserve-ownership": func(p *outputParse, v string) (err error) {
		p.PreserveOwnership, err = strconv.ParseBool(v)
		return err
	},
	"platform-split": func(p *outputParse, v string) error {
		b, err := strconv.ParseBool(v)
		p.PlatformSplit = &b
		return err
	},
	"force-compression": func(p *outputParse, v string) (err error) {
		p.ForceCompression, err = strconv.ParseBool(v)
		return err
	},
}

var outputSyntax = optspec.Syntax{Keys: slices.Sorted(maps.Keys(outputKeys))}

// OutputSpec is one parsed --output.
type OutputSpec struct {
	Type string
	// Dest is a path, or "-" (standard output) for the tar types.
	Dest string
	// Tar is true when type oci or docker writes a tar (the default).
	Tar bool
	// Push is true for type=registry and type=image,push=true.
	Push bool
	// Load is true for type=docker without dest: as buildx --load, the
	// image is loaded into a running docker or podman (see Daemon).
	Load bool
	// Names are the image names given with name= (comma-separated); the
	// caller adds -t names.
	Names []string
	// Compression is "", gzip, zstd or uncompressed; "" means the default.
	Compression      string
	CompressionLevel int
	ForceCompression bool
	// PreserveOwnership (type=local) keeps the image's owners and
	// setuid/setgid bits on the host; by default files belong to the user
	// running bld and lose those bits (see Local).
	PreserveOwnership bool
	// PlatformSplit (type=local, type=tar) is buildx's platform-split: a
	// multi-platform build writes each platform under a directory named
	// for it ("linux_arm64/"), the default; false merges all platforms'
	// files, a path in two platforms being an error. Nil is the default.
	PlatformSplit *bool
}

// ParseOutput parses an --output value in buildx syntax: comma-separated
// key=value pairs read by internal/optspec (CSV quoting: "name=a,b" or
// name="a,b" gives two names), or a plain path (type local) or "-" (type
// tar to standard output).
//
//	type=oci,dest=out.tar          type=oci,dest=dir,tar=false
//	type=docker,dest=image.tar     type=registry   type=image,push=true
//	type=docker (no dest: load into a running docker or podman)
//	type=local,dest=dir            type=tar,dest=rootfs.tar
//
// Keys: type, dest, tar, push, name, compression (gzip, zstd,
// uncompressed), compression-level, force-compression, preserve-ownership
// (type=local), platform-split (type=local, tar). Errors name the bad
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
	fields, err := outputSyntax.Parse(spec)
	if err != nil {
		return OutputSpec{}, fmt.Errorf("output %q: %w", spec, err)
	}
	var p outputParse
	for _, f := range fields {
		if err := outputKeys[f.Key](&p, f.Value); err != nil {
			return OutputSpec{}, fmt.Errorf("output %q: %s=%q: %w", spec, f.Key, f.Value, err)
		}
	}
	o, tarSet := p.OutputSpec, p.tarSet

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
		if o.Dest == "" && o.Type == TypeDocker {
			o.Load = true // buildx: type=docker without dest is --load
			break
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
	if o.PlatformSplit != nil && o.Type != TypeLocal && o.Type != TypeTar {
		return OutputSpec{}, fmt.Errorf("output %q: platform-split: only for type=local or tar", spec)
	}
	if o.Push && o.Type != TypeImage {
		return OutputSpec{}, fmt.Errorf("output %q: push: only for type=image or registry", spec)
	}
	return o, nil
}
