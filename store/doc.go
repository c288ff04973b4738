// Package store owns bld's content store: blobs by digest, image manifests and their names,
// laid out as an OCI image layout (<root>/content) that skopeo, umoci and crane read directly.
package store
