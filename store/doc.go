// Package store owns bld's content store: blobs by digest, image manifests and their names,
// laid out as an OCI image layout (<root>/content) that skopeo, umoci and crane read directly.
//
// Key types: Store (Open; blobs by digest through Writer, Open and Layer; images through
// WriteImage, Image, Resolve, Tag, Untag and Images) and Named (a name and what it points at).
// Names are spelt by internal/imageref; blobs are written with internal/atomicfile and verified by
// digest with internal/readers when read.
package store
