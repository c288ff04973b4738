// Package build is bld's library API: one call runs a whole build, from a
// Dockerfile and a context to images in the requested outputs.
//
//	res, err := build.Run(ctx, build.Options{Root: root, ContextDir: "app", Tags: []string{"app:v1"}})
//
// Run parses the Dockerfile (frontend), solves the graph (builder: cache
// keys, snapshots, RUN steps in the sandbox), assembles the image, writes
// every output (the local store, OCI layout, docker archive, registry,
// local directory or rootfs tar; exporter) and the build cache exports
// (--cache-to), and reports progress through a Progress value.
//
// The package owns the composition of a build, nothing global: the state
// root is a value in Options, and everything a build reads from outside
// (secrets, build args, the Dockerfile) comes in as values. Its key types
// are Options, Result, Step, Limits and Progress. cmd/bld turns flags into
// Options and renders Progress; any other Go program can do the same.
//
// Around Run, the package also holds what bld's other commands call:
// Check (the build checks of frontend/check, wired to the context's
// .dockerignore and the store's base image sizes; CheckOptions), Import
// (a root filesystem as a one-layer image), Push, and the store queries
// Images (ImageInfo), LocalImage and History (HistoryEntry).
package build
