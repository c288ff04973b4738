# bld: the two entry points are `make demo` and `make test` (see README).
GO        ?= go
BIN       := bin/bld
DEMO_ROOT ?= $(if $(BLD_ROOT),$(BLD_ROOT),/var/lib/bld)
ROOTFS    := $(CURDIR)/.cache/busybox-rootfs
PKGS      := ./...

.PHONY: all build demo test test-short bench lint fuzz clean deps image

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bld

deps:
	./scripts/install-deps.sh
	$(GO) mod download

# The main job, offline: a busybox base image made from Debian's
# busybox-static, then testdata/demo built on it.
demo:
	./scripts/install-deps.sh --demo
	$(GO) build -o $(BIN) ./cmd/bld
	./scripts/busybox-rootfs.sh $(ROOTFS)
	$(BIN) --root $(DEMO_ROOT) import $(ROOTFS) busybox
	$(BIN) --root $(DEMO_ROOT) build --progress plain -t demo:latest testdata/demo
	$(BIN) --root $(DEMO_ROOT) images
	$(BIN) --root $(DEMO_ROOT) inspect demo:latest

test: deps
	$(GO) vet $(PKGS)
	./scripts/with-registry.sh $(GO) test -p 2 -count=1 -timeout 18m $(PKGS)

# bld's own image (images/bld/Dockerfile), built by bld into its store as
# bld:latest; `bld push bld:latest REG/bld:TAG` publishes it.
image: build
	./scripts/image-context.sh $(CURDIR)/.cache/image-ctx
	$(BIN) --root $(DEMO_ROOT) build --progress plain -t bld:latest $(CURDIR)/.cache/image-ctx

test-short:
	$(GO) test -short -count=1 $(PKGS)

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)
	$(GO) test -run TestDeps .

bench: build
	./scripts/with-registry.sh ./bench/run.sh

clean:
	rm -rf bin .cache
