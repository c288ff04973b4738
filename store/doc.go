// Package store owns bld's content store: blobs by digest, image manifests and their names,
// laid out as an OCI image layout (<root>/content) that skopeo, umoci and crane read directly.
//
// Nothing enters or leaves it unchecked: blobs are verified by digest as
// they are written and read; WriteImage checks each layer it writes against
// its config's diff_id as it copies it ([DiffIDError], [CheckDiffID]); and
// [Store.ImageLimited] bounds the manifest and config it reads whole
// ([ReadLimits], the pull limits of `bld build --limit`). Key types: [Store],
// [Writer], [Named].
// Names are spelt by internal/imageref; blobs are written with
// internal/atomicfile.
package store
