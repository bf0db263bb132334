# botwarden — the two commands: `make run` and `make test`. See README.md.
GO        ?= go
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with
# "context deadline exceeded" and no crasher when a wall-clock -fuzztime ends
# (golang/go#75804, fixed in Go 1.27); an execution count has no deadline.
FUZZTIME  ?= 2000x
BENCHTIME ?= 1s
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# vtprotobuf: go-control-plane's generated fast marshalling code, which
# extauthz.Codec uses for Check answers (see extauthz/codec.go). Builds
# without the tag work the same, only slower.
export GOFLAGS += -tags=vtprotobuf

.PHONY: run build test deps generate vet fmt-check unit fuzz bench bench-go eval wasm clean

## run: botwarden serve on embedded defaults (gRPC :9001, HTTP :8080, dashboard http://127.0.0.1:9090/, analytics kept in ./botwarden-analytics.duckdb); needs Go and a C/C++ compiler (gcc, g++: the DuckDB analytics store)
run:
	BOTWARDEN_ANALYTICS_STORE_PATH=$${BOTWARDEN_ANALYTICS_STORE_PATH:-botwarden-analytics.duckdb} $(GO) run -ldflags "$(LDFLAGS)" ./cmd/botwarden serve $(ARGS)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/botwarden ./cmd/botwarden

## test: installs missing test tools (Debian, as root), then vet, gofmt, unit+e2e tests, short fuzz runs
test: deps vet fmt-check unit fuzz

## generate: files derived from the code (the Helm chart's values schema follows config/'s types); run it after a config change and commit the result: make test checks it is current, it does not rewrite it
generate:
	$(GO) test ./deploy/helm -run '^TestValuesSchemaFollowsConfig$$' -update -count=1

deps:
	@scripts/deps.sh

vet:
	$(GO) vet ./...
	GOFLAGS= $(GO) build ./...   # without the vtprotobuf tag too: it must stay optional

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 20m ./...

## fuzz: every Fuzz target for FUZZTIME each (seeds in testdata/fuzz)
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

## bench: loopback gRPC load against botwarden and a do-nothing server in one run, plus Go benchmarks
bench:
	$(GO) run ./bench
	$(MAKE) bench-go

bench-go:
	$(GO) test -run=^$$ -bench=. -benchmem -benchtime=$(BENCHTIME) ./detect/... ./extauthz/... ./accesslog/... ./wasmfilter/... ./server/... ./bench/...

## eval: detection engines on the reference corpora (BOTWARDEN_DATA, see README)
eval:
	$(GO) run ./eval

## wasm: the Proxy-Wasm filter with the stock Go toolchain
wasm:
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/botwarden-filter.wasm ./wasmfilter/cmd/filter

clean:
	rm -rf bin
