// Command bld-init is the init of bld's RUN steps as a program of its own:
// package stepinit and nothing else. `make build` (scripts/build-bld.sh)
// builds it and embeds it in bld (package sandbox, build tag
// bld_initbin), and sandbox.Run starts it from a sealed memfd instead of
// re-executing the whole of bld: a 2.4 MB program with 80 packages starts in
// about a third of the time of a 25 MB one with 400 (the Go runtime's
// start, the package initialisers and the page faults all grow with the
// binary), and every RUN step pays that start.
//
// The init itself runs in stepinit's package initialiser, as it does in
// bld; main is reached only when the program is run by hand.
package main

import (
	"os"

	_ "github.com/bldbuild/bld/sandbox/internal/stepinit"
)

func main() {
	os.Stderr.WriteString("bld-init: the init of bld's RUN steps, started by bld; not a command\n")
	os.Exit(2)
}
