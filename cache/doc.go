// Package cache owns build-step keys and the records they map to: which
// committed snapshot and which layer blob a step produced, and why a key
// differs from the last build's (the components of its preimage).
//
// A Key is the digest of a canonical, versioned preimage: the step's
// definition (dag.Encode), its inputs' keys in order, and the digest of any
// content it read from outside the graph (build-context files). Keys are
// not content digests and have their own type so they cannot be mixed up.
//
// Records live one file each under <dir>/records/<xx>/<key>.json, written
// with internal/atomicfile: a crash leaves either the old record or the new
// one (or, for a record just written, none: the step is then a miss), and
// two bld processes can share a directory.
//
// Key types: Key (and Component, a part of its preimage), Record, Cache
// (the records directory) and Source. The package holds keys and records
// only. Source is the read-only view of
// records made elsewhere that the builder asks after a local miss; package
// remotecache imports and exports caches (registry, inline, local) and
// implements it.
package cache
