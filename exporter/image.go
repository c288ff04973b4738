package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layer is one step of a build as the image records it: a layer and its
// history entry. Steps that change only the config have History.EmptyLayer
// set and Layer nil.
type Layer struct {
	Layer   v1.Layer
	History v1.History
}

// Image returns base (nil: scratch) with entries appended in order. The
// base's layers and history are kept; each entry adds its history, and its
// layer unless History.EmptyLayer. The config is cfg, os/architecture/
// variant come from platform (the base's when platform.OS is empty), and the
// image's created time and every new history entry's are created (in UTC).
// The manifest and config are always OCI media types; base layers with
// Docker media types are given the OCI equivalent, which does not change
// their digests. Equal inputs give equal digests. Layers are read only when
// the image is written (and for DiffID, when a layer does not know it).
func Image(base v1.Image, entries []Layer, cfg v1.Config, platform v1.Platform, created time.Time) (v1.Image, error) {
	created = created.UTC()
	var cf v1.ConfigFile
	var descs []v1.Descriptor
	var layers []v1.Layer
	if base != nil {
		bcf, err := base.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("base image config: %w", err)
		}
		cf = *bcf.DeepCopy()
		m, err := base.Manifest()
		if err != nil {
			return nil, fmt.Errorf("base image manifest: %w", err)
		}
		ls, err := base.Layers()
		if err != nil {
			return nil, fmt.Errorf("base image layers: %w", err)
		}
		if len(ls) != len(m.Layers) || len(ls) != len(cf.RootFS.DiffIDs) {
			return nil, fmt.Errorf("base image: %d layers, %d manifest layers, %d diff_ids", len(ls), len(m.Layers), len(cf.RootFS.DiffIDs))
		}
		for i, l := range ls {
			d := m.Layers[i]
			d.MediaType = ociLayerType(d.MediaType)
			descs = append(descs, d)
			layers = append(layers, withMediaType(l, d.MediaType))
		}
	}
	// container and docker_version describe the build of the base.
	cf.Container = ""
	cf.DockerVersion = "" //lint:ignore SA1019 cleared so the base's builder version does not leak into ours
	cf.Config = cfg
	cf.Created = v1.Time{Time: created}
	if platform.OS != "" {
		cf.OS = platform.OS
		cf.Architecture = platform.Architecture
		cf.Variant = platform.Variant
		cf.OSVersion = platform.OSVersion
		cf.OSFeatures = platform.OSFeatures
	}
	if cf.OS == "" || cf.Architecture == "" {
		return nil, fmt.Errorf("image: no platform (os %q, architecture %q)", cf.OS, cf.Architecture)
	}
	cf.RootFS.Type = "layers"
	for i, e := range entries {
		h := e.History
		h.Created = v1.Time{Time: created}
		cf.History = append(cf.History, h)
		if h.EmptyLayer {
			if e.Layer != nil {
				return nil, fmt.Errorf("image: entry %d (%s) has a layer but is marked empty_layer", i, h.CreatedBy)
			}
			continue
		}
		if e.Layer == nil {
			return nil, fmt.Errorf("image: entry %d (%s) has no layer and is not marked empty_layer", i, h.CreatedBy)
		}
		d, err := partial.Descriptor(e.Layer)
		if err != nil {
			return nil, fmt.Errorf("image: entry %d (%s): %w", i, h.CreatedBy, err)
		}
		diffID, err := e.Layer.DiffID()
		if err != nil {
			return nil, fmt.Errorf("image: entry %d (%s): %w", i, h.CreatedBy, err)
		}
		mt := ociLayerType(d.MediaType)
		descs = append(descs, v1.Descriptor{MediaType: mt, Size: d.Size, Digest: d.Digest})
		layers = append(layers, withMediaType(e.Layer, mt))
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diffID)
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	return newImage(raw, &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON},
		Layers:        descs,
	}, layers)
}

// ociLayerType returns the OCI media type for a Docker layer media type,
// and any other unchanged.
func ociLayerType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	case types.DockerForeignLayer:
		return types.OCIRestrictedLayer
	}
	return mt
}

// withMediaType returns l reporting mt as its media type. A layer a
// registry can mount from stays mountable.
func withMediaType(l v1.Layer, mt types.MediaType) v1.Layer {
	if cur, err := l.MediaType(); err == nil && cur == mt {
		return l
	}
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: &mtLayer{Layer: ml.Layer, mt: mt}, Reference: ml.Reference}
	}
	return &mtLayer{Layer: l, mt: mt}
}

type mtLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l *mtLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// image is a v1.Image made of a config, a manifest and the layers in
// manifest order. newImage fills in the config descriptor.
type image struct {
	raw      []byte
	config   []byte
	manifest *v1.Manifest
	layers   []v1.Layer
}

var _ v1.Image = (*image)(nil)

func newImage(config []byte, m *v1.Manifest, layers []v1.Layer) (*image, error) {
	h, size, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, err
	}
	m.Config.Digest, m.Config.Size = h, size
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("image: manifest: %w", err)
	}
	return &image{raw: raw, config: config, manifest: m, layers: layers}, nil
}

func (i *image) MediaType() (types.MediaType, error) { return i.manifest.MediaType, nil }
func (i *image) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *image) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *image) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *image) ConfigName() (v1.Hash, error)        { return i.manifest.Config.Digest, nil }
func (i *image) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *image) Layers() ([]v1.Layer, error)         { return append([]v1.Layer(nil), i.layers...), nil }

func (i *image) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.raw))
	return h, err
}

func (i *image) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.config))
}

func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == i.manifest.Config.Digest {
		return partial.ConfigLayer(i)
	}
	for n, d := range i.manifest.Layers {
		if d.Digest == h {
			return i.layers[n], nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	d, err := partial.DiffIDToBlob(i, h)
	if err != nil {
		return nil, err
	}
	return i.LayerByDigest(d)
}
