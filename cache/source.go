package cache

import v1 "github.com/google/go-containerregistry/pkg/v1"

// Source is a read-only set of records made elsewhere (an imported cache,
// see package remotecache), asked after the local Cache misses. Its
// records have no Snapshot: a hit fetches the layer and unpacks it. A
// Source is safe for concurrent use.
type Source interface {
	// Get returns the record for k: Key, Layer (nil for a step that
	// changed nothing), DiffID, CreatedBy and Created.
	Get(k Key) (Record, bool)
	// Layer returns the layer blob desc with uncompressed digest diffID,
	// read lazily and verified as it is read.
	Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error)
}
