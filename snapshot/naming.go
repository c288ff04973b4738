package snapshot

import "strings"

// The names of the committed snapshots a build makes. They live here, with
// the snapshots, so that a reader (du, prune) asks this package what a
// snapshot is instead of decoding names itself.

const (
	layerPrefix = "layer-"
	stepPrefix  = "step-"
)

// LayerName names the committed snapshot of an image layer unpacked on top
// of the layers below it, by the hex of the layer's chain ID.
func LayerName(chainIDHex string) string { return layerPrefix + chainIDHex }

// StepName names the committed snapshot a build step made, by the step's
// cache key (hex).
func StepName(key string) string { return stepPrefix + key }

// IsLayer reports whether name was made by LayerName: an unpacked image
// layer (of a base image), rather than the result of a build step.
func IsLayer(name string) bool { return strings.HasPrefix(name, layerPrefix) }
