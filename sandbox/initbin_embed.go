//go:build bld_initbin

package sandbox

import _ "embed"

// initBinary is the step init as a program of its own: bld-init
// (sandbox/internal/stepinit/cmd/bld-init), built by scripts/build-bld.sh
// and put at initbin/bld-init by its -overlay (the file is never in the
// tree). Build bld with that script (make build), not with this tag alone.
//
//go:embed initbin/bld-init
var initBinary []byte
