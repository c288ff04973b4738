// Package conformance is the differential suite: it builds every case under
// testdata/conformance with bld and with the reference builder buildah, and
// compares the two images path by path (type, mode with setuid/setgid/sticky,
// uid/gid, size, content digest, symlink target, device numbers, hardlinks)
// and field by field in the image config.
//
// buildah (Debian's 1.28) departs from BuildKit in known places (DESIGN.md,
// last section). There bld follows BuildKit, and the case's case.json states
// what bld must produce instead of buildah's result ("expect") and why
// ("note"). Where buildah 1.28 cannot parse a construct at all (heredocs,
// COPY --link, --exclude, RUN --network), a case either gives buildah an
// equivalent Dockerfile.buildah or skips buildah and checks only "expect".
//
// The package has no API: everything is in the _test.go files. The suite
// needs root (buildah, umoci) and skips without it. See
// testdata/conformance/README.md for the layout of a case and how to run it.
package conformance
