// Package remotecache owns build cache import and export: --cache-from and
// --cache-to. It parses their values (ImportSpec, ExportSpec), reads a
// cache into a Remote (a cache.Source the builder asks after a local miss,
// whose layers are fetched lazily), writes the records and layers of a
// build as a cache, and carries RUN cache mounts (PackMount, UnpackMount).
// The build-level policy is here too: ImportAll (warnings, never errors;
// cache mounts restored), Inline (the inline cache on the image) and
// ExportAll (mode=min|max, compression, ignore-error), for package build.
//
// Backends: a registry cache is one OCI image manifest whose config blob
// (ConfigMediaType) holds the records and whose layers are their layer
// blobs plus one blob per exported cache mount; a local cache is the same
// manifest in an OCI image layout directory, written with ggcr's
// pkg/v1/layout (skopeo reads it as any layout); an inline cache is the
// records in an annotation of the image's own manifest.
//
// Hand-written here, because no library does it: the records document,
// the cache manifest as a v1.Image (cacheImage), a lazy layer known by its
// descriptor (blobLayer). Blobs of a local cache are read through
// internal/readers.Verify, which checks size and digest as they are read:
// ggcr's layout reader and writer trust the digest a blob is named by.
package remotecache
