// Package fscopy is the COPY/ADD engine: it selects sources in a tree (the
// build context, or another stage's or image's root filesystem), and copies
// them into the root filesystem being built with Docker's (BuildKit's)
// semantics, safely.
//
// Terms. The source root is the host directory a Source names; the
// destination root (dstRoot) is the host directory that is the image's "/".
// Every path read is resolved inside the source root and every path written
// is resolved inside the destination root, with symbolic links followed as if
// that root were "/": an absolute link or a ".." never leaves it. Below the
// resolved top-level paths, trees are walked and written with directory file
// descriptors and *at system calls (O_NOFOLLOW on every final component), so
// a link met during the walk is copied as a link and never followed.
//
// What a copy does, in brief (see Copy for the rules):
//
//	COPY app.go /src/main.go   file to a file path (rename)
//	COPY app.go /src/          file into a directory
//	COPY dir /app              the contents of dir into /app (created)
//	COPY a b /app/             several sources need a directory
//	COPY *.go /src/            wildcards (filepath.Match syntax)
//	ADD app.tar.gz /opt/       local archives are extracted
//	ADD https://x/y.bin /opt/  URLs are downloaded (never extracted)
//
// Layer writes what a Copy would add as a layer tar instead, without
// writing a file, for the copies whose every entry is new (one source, a
// destination that does not exist): the builder uses it for a COPY no step
// builds on.
//
// With Options.Upper and Options.Reuse (the upper dir of an earlier run of
// the same copy), a file Copy would write the same as the one at its path
// there is hard-linked from it instead.
//
// Checksum computes the content digest that keys the cache for a COPY: it
// reads exactly what Copy would read, and a StatCache lets unchanged files go
// unread. LookupOwner turns --chown into numbers; ParseChmod turns --chmod
// into a Chmod, an octal mode or a symbolic one (u+x,go-w) applied per entry
// by tonistiigi/dchapes-mode, the library BuildKit uses.
//
// Key types: Source (where a copy reads), Options (what it does), Owner,
// and StatCache with its file-backed FileStatCache.
//
// The package is Linux-only, like bld's sandbox.
package fscopy
