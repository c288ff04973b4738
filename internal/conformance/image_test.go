package conformance

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// entry is what the suite compares for one path of a root filesystem.
// Modification times are never compared.
type entry struct {
	Type   string // one of validTypes
	Mode   uint32 // permission bits with setuid, setgid and sticky (07777)
	UID    int
	GID    int
	Size   int64  // regular files only
	SHA256 string // regular files only
	Target string // symlinks only
	Rdev   string // "major:minor", devices only
	Links  string // regular files: the other paths hardlinked to this one, sorted, comma-separated

	// only, when not nil, restricts the comparison to these fields: an
	// expected entry built from case.json for a path buildah does not have.
	only map[string]bool
}

// tree is a root filesystem: absolute path ("/bin/sh") to entry. "/" itself
// is left out: its metadata comes from whoever unpacked the image.
type tree map[string]*entry

// imageConfig is the part of an image config the suite compares, normalised
// so that empty and absent values are equal and maps become sorted lists.
type imageConfig struct {
	Env          []string          `json:"Env"`
	Entrypoint   []string          `json:"Entrypoint"`
	Cmd          []string          `json:"Cmd"`
	WorkingDir   string            `json:"WorkingDir"`
	User         string            `json:"User"`
	ExposedPorts []string          `json:"ExposedPorts"`
	Volumes      []string          `json:"Volumes"`
	Labels       map[string]string `json:"Labels"`
	StopSignal   string            `json:"StopSignal"`
	Healthcheck  *healthcheck      `json:"Healthcheck"`
	OnBuild      []string          `json:"OnBuild"`
	Shell        []string          `json:"Shell"`
}

// configFields are the names case.json may use under expect.config.
var configFields = map[string]bool{
	"Env": true, "Entrypoint": true, "Cmd": true, "WorkingDir": true, "User": true,
	"ExposedPorts": true, "Volumes": true, "Labels": true, "StopSignal": true,
	"Healthcheck": true, "OnBuild": true, "Shell": true,
}

// healthcheck is the Docker HEALTHCHECK record; durations in nanoseconds.
type healthcheck struct {
	Test        []string `json:"Test"`
	Interval    int64    `json:"Interval,omitempty"`
	Timeout     int64    `json:"Timeout,omitempty"`
	StartPeriod int64    `json:"StartPeriod,omitempty"`
	Retries     int      `json:"Retries,omitempty"`
}

// rawConfig is the "config" object as both OCI (with the docker-image-spec
// extension fields) and Docker image configs spell it.
type rawConfig struct {
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Volumes      map[string]struct{} `json:"Volumes"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal"`
	Healthcheck  *healthcheck        `json:"Healthcheck"`
	OnBuild      []string            `json:"OnBuild"`
	Shell        []string            `json:"Shell"`
}

// builderLabels are labels a builder stamps on every image; not compared.
var builderLabels = map[string]bool{"io.buildah.version": true}

func (rc rawConfig) normalise() imageConfig {
	c := imageConfig{
		Env:          nonEmpty(rc.Env),
		Entrypoint:   nonEmpty(rc.Entrypoint),
		Cmd:          nonEmpty(rc.Cmd),
		WorkingDir:   rc.WorkingDir,
		User:         rc.User,
		ExposedPorts: nonEmpty(sortedKeys(rc.ExposedPorts)),
		Volumes:      nonEmpty(sortedKeys(rc.Volumes)),
		StopSignal:   rc.StopSignal,
		Healthcheck:  rc.Healthcheck,
		OnBuild:      nonEmpty(rc.OnBuild),
		Shell:        nonEmpty(rc.Shell),
	}
	for k, v := range rc.Labels {
		if builderLabels[k] {
			continue
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	return c
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// image is one builder's result, unpacked.
type image struct {
	fs     tree
	config imageConfig
}

// ociLayoutConfig reads the image config of the single image in the OCI
// layout dir and re-tags that image as tag in index.json, so that umoci can
// name it whatever annotations the builder wrote. A nested index is followed
// to its linux/amd64 (or only) manifest.
func ociLayoutConfig(dir, tag string) (rawConfig, error) {
	var idx ociIndex
	if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
		return rawConfig{}, err
	}
	desc, err := pickManifest(dir, idx)
	if err != nil {
		return rawConfig{}, err
	}
	var m struct {
		Config ociDescriptor   `json:"config"`
		Layers []ociDescriptor `json:"layers"`
	}
	if err := readBlob(dir, desc.Digest, &m); err != nil {
		return rawConfig{}, fmt.Errorf("read manifest: %w", err)
	}
	var cfg struct {
		Config rawConfig `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := readBlob(dir, m.Config.Digest, &cfg); err != nil {
		return rawConfig{}, fmt.Errorf("read config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return rawConfig{}, fmt.Errorf("config has %d diff_ids, manifest %d layers", len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	idx.Manifests = []ociDescriptor{desc}
	b, err := json.Marshal(idx)
	if err != nil {
		return rawConfig{}, err
	}
	return cfg.Config, os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
}

type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType,omitempty"`
	Manifests     []ociDescriptor `json:"manifests"`
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

func pickManifest(dir string, idx ociIndex) (ociDescriptor, error) {
	for depth := 0; depth < 4; depth++ {
		var pick *ociDescriptor
		for i, d := range idx.Manifests {
			if d.Platform == nil || (d.Platform.OS == "linux" && d.Platform.Architecture == "amd64") {
				pick = &idx.Manifests[i]
				break
			}
		}
		if pick == nil || len(idx.Manifests) == 0 {
			return ociDescriptor{}, fmt.Errorf("index.json: no linux/amd64 manifest among %d", len(idx.Manifests))
		}
		if len(idx.Manifests) > 1 && pick.Platform == nil {
			return ociDescriptor{}, fmt.Errorf("index.json: %d manifests, want one image", len(idx.Manifests))
		}
		switch pick.MediaType {
		case "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json":
			return *pick, nil
		case "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json":
			var next ociIndex
			if err := readBlob(dir, pick.Digest, &next); err != nil {
				return ociDescriptor{}, fmt.Errorf("read nested index: %w", err)
			}
			idx = next
		default:
			return ociDescriptor{}, fmt.Errorf("index.json: unknown media type %q", pick.MediaType)
		}
	}
	return ociDescriptor{}, errors.New("index.json: indexes nested too deep")
}

// readBlob decodes a JSON blob after checking its digest.
func readBlob(dir, digest string, v any) error {
	alg, hexd, ok := strings.Cut(digest, ":")
	if !ok || alg != "sha256" {
		return fmt.Errorf("unsupported digest %q", digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", alg, hexd))
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexd {
		return fmt.Errorf("blob %s: content does not match its digest", digest)
	}
	return json.Unmarshal(b, v)
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	return nil
}

// untar extracts an OCI layout tarball (regular files and dirs only) into dir.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		name := path.Clean("/" + h.Name)
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected entry %s of type %c in an OCI layout tarball", file, h.Name, h.Typeflag)
		}
	}
}

// unpackOCITar turns an OCI layout tarball holding one image into an image:
// umoci (an independent implementation) applies the layers with whiteouts,
// then the suite walks the root filesystem it made.
func unpackOCITar(ctx context.Context, r *runner, ociTar, work string) (*image, error) {
	layout := filepath.Join(work, "layout")
	if err := untar(ociTar, layout); err != nil {
		return nil, err
	}
	cfg, err := ociLayoutConfig(layout, "image")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ociTar, err)
	}
	bundle := filepath.Join(work, "bundle")
	if _, err := r.run(ctx, "umoci", "unpack", "--image", layout+":image", bundle); err != nil {
		return nil, err
	}
	t, err := walkTree(filepath.Join(bundle, "rootfs"))
	if err != nil {
		return nil, err
	}
	return &image{fs: t, config: cfg.normalise()}, nil
}

// walkTree records every path under root.
func walkTree(root string) (tree, error) {
	t := tree{}
	type inode struct{ dev, ino uint64 }
	groups := map[inode][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := "/" + filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := &entry{
			Mode: uint32(st.Mode) & 0o7777,
			UID:  int(st.Uid),
			GID:  int(st.Gid),
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			e.Type = "file"
			e.Size = fi.Size()
			if e.SHA256, err = fileSHA256(p); err != nil {
				return err
			}
			if st.Nlink > 1 {
				k := inode{uint64(st.Dev), st.Ino}
				groups[k] = append(groups[k], name)
			}
		case syscall.S_IFDIR:
			e.Type = "dir"
		case syscall.S_IFLNK:
			e.Type = "symlink"
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case syscall.S_IFCHR, syscall.S_IFBLK:
			e.Type = "char"
			if st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
				e.Type = "block"
			}
			e.Rdev = fmt.Sprintf("%d:%d", major(uint64(st.Rdev)), minor(uint64(st.Rdev)))
		case syscall.S_IFIFO:
			e.Type = "fifo"
		case syscall.S_IFSOCK:
			e.Type = "socket"
		}
		t[name] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, names := range groups {
		if len(names) < 2 {
			continue // linked from outside the tree: nothing to compare
		}
		sort.Strings(names)
		for _, n := range names {
			var others []string
			for _, o := range names {
				if o != n {
					others = append(others, o)
				}
			}
			t[n].Links = strings.Join(others, ",")
		}
	}
	return t, nil
}

func major(dev uint64) uint64 { return ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000) }
func minor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xffffff00) }

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyTree copies src to dst keeping modes, symlinks and hardlinks (so a
// context's fixtures survive), but not ownership or times.
func copyTree(src, dst string) error {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode()&fs.ModePerm|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case fi.Mode().IsRegular():
			st := fi.Sys().(*syscall.Stat_t)
			k := inode{uint64(st.Dev), st.Ino}
			if first, ok := seen[k]; ok && st.Nlink > 1 {
				return os.Link(first, target)
			}
			seen[k] = target
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, 0o600); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode()&fs.ModePerm|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		default:
			return fmt.Errorf("%s: unsupported file type %v in a case context (make it in setup.sh)", p, fi.Mode().Type())
		}
	})
}
