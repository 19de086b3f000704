# qbackup — build, lint, test, demo.
# `make demo` and `make test` are the two commands a new user needs.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
STACK := e2e/stack/stack.sh
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all build lint test test-unit test-integration e2e stack-up stack-down stack-status demo bench dist image clean

all: build

## build: static binaries into bin/
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/...

## lint: gofmt, go vet, staticcheck (pinned)
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	@# The integration tag only adds files, so one tagged pass checks everything.
	$(GO) vet -tags integration ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags integration ./...

## test-unit: fast tests, no services, with the race detector
test-unit:
	$(GO) test -race -count=1 ./...

## test-integration: every test, unit and integration, against the real stack (must be up: make stack-up)
test-integration:
	@source "$$($(STACK) env-file)" && $(GO) test -race -count=1 -tags integration -timeout 45m ./...

## test: lint, then every test (unit and integration, one pass) against the real stack;
## brings the stack up (and down again if it started it)
test: lint
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then $(STACK) up; started=1; fi; \
	rc=0; $(MAKE) --no-print-directory test-integration || rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) down; fi; \
	exit $$rc

## e2e: the end-to-end scenarios alone (e2e/scenarios) against the real stack,
## brought up (and down again) as for `make test`; ends with a table per
## scenario: result, duration, and bytes, throughput and RTO of its backups
## and restores. RUN=regexp runs only the matching scenarios.
e2e:
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then $(STACK) up; started=1; fi; \
	rc=0; ( source "$$($(STACK) env-file)" && $(GO) test -race -count=1 -tags integration -timeout 30m -json \
	  $(if $(RUN),-run '$(RUN)') ./e2e/scenarios/ ) | $(GO) run ./e2e/cmd/e2e-report || rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) down; fi; \
	exit $$rc

## stack-up: build (cached) and start the real test stack on loopback; see README "Test stack"
stack-up:
	$(STACK) up

## stack-down: stop the stack's processes and remove its run directory
stack-down:
	$(STACK) down

## stack-status: each service's state; exits 0 only if all answer
stack-status:
	$(STACK) status

## demo: the main job end to end on the embedded defaults
demo: build
	$(GO) run ./e2e/cmd/qbackup-demo --qbackup=$(BIN)/qbackup

## bench: the performance goals, measured: brings the stack up (and down
## again if it started it) as `make test` does, runs the Go benchmarks
## (with the integration tag, so the catalog ones run against MariaDB),
## then e2e/cmd/qbackup-bench, the real bin/qbackup against MinIO beside
## raw and naive baselines, which writes bench/results.json and
## BENCHMARKS.md (with the control-plane benchmarks' goals, read from
## bin/go-bench.txt). BENCH_SIZES=256MiB,1GiB,4GiB adds sizes (10GiB too);
## BENCH_ARGS passes more flags to the harness.
BENCH_SIZES ?= 256MiB,1GiB
BENCH_ARGS ?=
bench: build
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then $(STACK) up; started=1; fi; \
	rc=0; ( source "$$($(STACK) env-file)" && \
	  $(GO) test -tags integration -run '^$$' -bench . -benchmem -timeout 20m ./... | tee $(BIN)/go-bench.txt && \
	  $(GO) run ./e2e/cmd/qbackup-bench --qbackup=$(BIN)/qbackup --go-bench=$(BIN)/go-bench.txt --sizes=$(BENCH_SIZES) $(BENCH_ARGS) ) || rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) down; fi; \
	exit $$rc

## dist: the plugin's release archives (linux/darwin x amd64/arm64, binary + LICENSE)
## and dist/qbackup.yaml, the krew manifest with their sha256; VERSION=vX.Y.Z
dist:
	$(GO) run ./plugin/dist --version=$(if $(filter v%,$(VERSION)),$(VERSION),v0.1.0) --out=dist

## image: the container image with docker, podman or buildah, whichever exists;
## IMAGE=name:tag, PLATFORMS=linux/amd64,linux/arm64 for a multi-arch build (docker buildx)
IMAGE ?= ghcr.io/qbackup/qbackup:$(VERSION)
image:
	@engine=$$(command -v docker || command -v podman || command -v buildah || true); 	if [ -z "$$engine" ]; then 	  echo "make image: no container engine found: install docker, podman or buildah (e.g. apt-get install podman)"; exit 1; fi; 	case "$$engine" in 	  *buildah) "$$engine" bud --build-arg VERSION=$(VERSION) -t $(IMAGE) . ;; 	  *) if [ -n "$(PLATFORMS)" ]; then "$$engine" buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) -t $(IMAGE) . ; 	     else "$$engine" build --build-arg VERSION=$(VERSION) -t $(IMAGE) . ; fi ;; 	esac

clean:
	rm -rf $(BIN) dist
