# mcpctl — make help lists the targets.
SHELL   := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mcpctl/mcpctl/pkg/api/v1.Version=$(VERSION)
BIN     := bin

.PHONY: help build test lint bench bench-gateway run images clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## build mcpd, mcplocal and mcpctl into ./bin
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/mcpd ./cmd/mcplocal ./cmd/mcpctl

test: ## the whole suite, as CI runs it: starts PostgreSQL, gofmt, go vet, go test -race
	./.ci/test.sh

lint: ## gofmt check and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

bench: build ## load-test mcpd (SQLite and PostgreSQL) with hey, and the resource API at scale; see docs/benchmarks.md
	./.ci/bench.sh

bench-gateway: build ## the MCP gateway alone: latency, 8-session throughput and 1,000 idle sessions through mcpd; see docs/benchmarks.md
	go run ./test/loadrun -scenario gateway -bin $(BIN)

run: build ## start mcpd (SQLite, 127.0.0.1:3100) and take it to a working MCP endpoint: example project, servers, token
	BIN=$(BIN) ./scripts/run.sh

images: ## container images mcpctl/mcpd and mcpctl/mcplocal (FROM scratch, static binaries; needs docker)
	rm -rf $(BIN)/image && mkdir -p $(BIN)/image
	CGO_ENABLED=0 go build -ldflags "$(LDFLAGS)" -o $(BIN)/image/ ./cmd/mcpd ./cmd/mcplocal
	cp /etc/ssl/certs/ca-certificates.crt $(BIN)/image/ 2>/dev/null || touch $(BIN)/image/ca-certificates.crt
	mkdir -p $(BIN)/image/empty
	docker build -q -f build/mcpd.Dockerfile -t mcpctl/mcpd:$(VERSION) -t mcpctl/mcpd:latest $(BIN)/image
	docker build -q -f build/mcplocal.Dockerfile -t mcpctl/mcplocal:$(VERSION) -t mcpctl/mcplocal:latest $(BIN)/image

clean: ## remove ./bin
	rm -rf $(BIN)
