// Package compress owns one-pass layer compression (digest and diffID computed while compressing)
// and format detection for decompression: gzip (parallel, deterministic), zstd and plain tar.
package compress
