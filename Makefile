# The whole test suite: `make test` (see README). It installs the tools the
# tests drive (tcpdump, tshark, tcptrace, tcpreplay, chromium, iproute2) when
# they are missing, then vets and runs every test, fuzz seeds included.
GO ?= go
GOTESTFLAGS ?= -race -count=1 -timeout 75m

.PHONY: all build test test-deps vet bench fuzz

all: build

build:
	CGO_ENABLED=0 $(GO) build -o pastmon .

test-deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Tests build without default.pgo: profile-guided optimisation changes no
# behaviour, and one build mode compiles the dependencies once, not twice.
test: test-deps vet build
	GOFLAGS=-pgo=off $(GO) test $(GOTESTFLAGS) ./...

bench:
	./bench/run.sh
