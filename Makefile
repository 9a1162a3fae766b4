# mcpctl — make help lists the targets.
SHELL   := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mcpctl/mcpctl/pkg/api/v1.Version=$(VERSION)
BIN     := bin

.PHONY: help build test lint bench run clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

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

run: build ## start mcpd on the embedded defaults (SQLite, 127.0.0.1:3100)
	./$(BIN)/mcpd

clean: ## remove ./bin
	rm -rf $(BIN)
