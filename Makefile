# Go at /usr/local/go is used when `go` is not on PATH.
export PATH := $(PATH):/usr/local/go/bin

GO          ?= go
FUZZTIME    ?= 30s
TESTTIMEOUT ?= 20m
# golangci-lint is pinned in its own module so that its dependencies stay out of go.mod.
GOLANGCI    := $(GO) tool -modfile=tools/golangci-lint/go.mod golangci-lint

.PHONY: run build test test-short lint bench fuzz clean

## run: the API with an embedded Redis, an in-process worker and the demo data
run:
	$(GO) run ./cmd/api

## build: bin/api and bin/worker
# The Dockerfile's build stage runs the same two lines (internal/deploycheck checks it).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/api ./cmd/api
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/worker ./cmd/worker

## test: every test with the race detector; real-Redis tests start their own redis-server
## (or use REDIS_TEST_URL); the ones that could not run are listed at the end
# internal/redistest appends each real-Redis skip (no redis-server, -short) to the file
# named by REDISTEST_SKIP_LOG.
test:
	@rc=0; skips=$$(mktemp); \
	REDISTEST_SKIP_LOG=$$skips $(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./... || rc=$$?; \
	if [ -s $$skips ]; then \
		echo; echo "Skipped real-Redis tests ($$(wc -l < $$skips)):"; sort $$skips | sed 's/^/  /'; \
	fi; rm -f $$skips; exit $$rc

## test-short: quick run, no race detector, real-Redis tests skipped (-short)
test-short:
	@rc=0; skips=$$(mktemp); \
	REDISTEST_SKIP_LOG=$$skips $(GO) test -short -count=1 -timeout 5m ./... || rc=$$?; \
	if [ -s $$skips ]; then \
		echo; echo "Skipped real-Redis tests: $$(wc -l < $$skips) (run 'make test' for them)"; \
	fi; rm -f $$skips; exit $$rc

## lint: gofmt, go vet and golangci-lint (all three run); fails on any finding
lint:
	@rc=0; files=$$(gofmt -l .); \
	if [ -n "$$files" ]; then echo "gofmt: not formatted (run gofmt -w):"; echo "$$files" | sed 's/^/  /'; rc=1; fi; \
	echo "$(GO) vet ./..."; $(GO) vet ./... || rc=1; \
	echo "golangci-lint run ./..."; $(GOLANGCI) run ./... || rc=1; \
	exit $$rc

## bench: the Go micro-benchmarks (BENCHTIME each), then the end-to-end bench (bench/):
## its own redis-server, fake provider, api and workers; BENCH_FLAGS=-quick for small sizes
BENCHTIME   ?= 200ms
BENCH_FLAGS ?=
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./internal/...
	$(GO) run ./bench $(BENCH_FLAGS)

## fuzz: each Fuzz target for FUZZTIME (default 30s), one after the other
fuzz:
	@set -e; $(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { f[n++] = $$1; next } /^ok / { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' > .fuzz-targets; \
	if [ ! -s .fuzz-targets ]; then echo "no Fuzz targets"; rm -f .fuzz-targets; exit 0; fi; \
	while read -r pkg fn; do \
		echo "== $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || { rm -f .fuzz-targets; exit 1; }; \
	done < .fuzz-targets; rm -f .fuzz-targets

## clean: build output and test caches of this module
clean:
	rm -rf bin .fuzz-targets coverage.out coverage.html
	$(GO) clean -testcache
