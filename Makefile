# bld: the two entry points are `make demo` and `make test` (see README).
GO        ?= go
BIN       := bin/bld
# bld's own default when unset: /var/lib/bld as root, ~/.local/share/bld
# for an ordinary user (rootless).
DEMO_ROOT ?= $(BLD_ROOT)
ROOT_FLAG := $(if $(DEMO_ROOT),--root $(DEMO_ROOT))
ROOTFS    := $(CURDIR)/.cache/busybox-rootfs
PKGS      := ./...

.PHONY: all build demo test test-short bench lint fuzz clean deps image

all: build

# Static (no cgo, as DESIGN.md says): no dynamic loader at each start of
# bld, which every rootless command pays; and with the step init embedded
# as a small program of its own, which every RUN step starts
# (scripts/build-bld.sh).
build:
	GO=$(GO) ./scripts/build-bld.sh $(BIN)

deps:
	./scripts/install-deps.sh
	$(GO) mod download

# The main job, offline: a busybox base image made from Debian's
# busybox-static, then testdata/demo built on it.
demo: build
	./scripts/install-deps.sh --demo
	./scripts/busybox-rootfs.sh $(ROOTFS)
	$(BIN) $(ROOT_FLAG) import $(ROOTFS) busybox
	$(BIN) $(ROOT_FLAG) build --progress plain -t demo:latest testdata/demo
	$(BIN) $(ROOT_FLAG) images
	$(BIN) $(ROOT_FLAG) inspect demo:latest

test: deps
	$(GO) vet $(PKGS)
	./scripts/with-registry.sh $(GO) test -p 2 -count=1 -timeout 18m $(PKGS)

# bld's own image (images/bld/Dockerfile), built by bld into its store as
# bld:latest; `bld push bld:latest REG/bld:TAG` publishes it.
image: build
	./scripts/image-context.sh $(CURDIR)/.cache/image-ctx
	$(BIN) $(ROOT_FLAG) build --progress plain -t bld:latest $(CURDIR)/.cache/image-ctx

test-short:
	$(GO) test -short -count=1 $(PKGS)

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)
	$(GO) test -run TestDeps .

bench: build
	./scripts/install-deps.sh --bench
	./scripts/with-registry.sh ./bench/run.sh

clean:
	rm -rf bin .cache
