//go:build !bld_initbin

package sandbox

// initBinary is the step init as a program of its own (bld-init), when
// the build embeds it (initbin_embed.go); here it does not, and Run
// re-executes bld itself.
var initBinary []byte
