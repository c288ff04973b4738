// Package compress owns one-pass layer compression (Compress: digest and diffID computed while
// compressing, in a Result; Options say the format and level) for gzip (parallel, deterministic),
// zstd and plain tar, the layer media type of each format (MediaType, FormatOf), and Decompress,
// a fast decompressing reader over internal/archive's one sniffer (gzip in parallel with pgzip,
// zstd with klauspost/compress, bzip2 and xz by archive.Decompress).
package compress
