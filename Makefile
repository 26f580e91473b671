# Keel's verbs: `make` or `make help` lists them. .PHONY matters: test/ and
# bench/ are folders, which make would otherwise take as up to date.

# staticcheck 2026.2.2, pinned and run by go run: no install step.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Extra go test arguments for make test, e.g. ARGS='-run TestX ./adapters/...'.
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: run build test bench bench-ingest bench-content bench-webhooks images lint generate fmt help

# The version, commit and state of the tree that keel version and
# GET /v1/instance report, set at link time: go run stamps no build
# information of its own. The version is the nearest tag (git describe),
# or left to the binary (devel and the commit) when there is none.
BUILD_PKG := github.com/keelhq/keel/cmd/keel/bootstrap
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell git status --porcelain 2>/dev/null | grep -q . && echo true || echo false)
LDFLAGS = -X $(BUILD_PKG).version=$(VERSION) -X $(BUILD_PKG).commit=$(COMMIT) -X $(BUILD_PKG).modified=$(MODIFIED)

run: ## run the server: embedded SQLite, console mailer
	go run -ldflags "$(LDFLAGS)" ./cmd/keel serve

build: ## build bin/keel
	go build -ldflags "$(LDFLAGS)" -o bin/keel ./cmd/keel

test: ## go vet, then every test with -race; starts dockerd and builds images if needed
	scripts/test.sh $(ARGS)

bench: ## load scenarios: the figures for BENCHMARKS.md
	go test -run '^$$' -bench . -benchmem ./... && scripts/bench.sh

bench-ingest: ## form submission ingest under load (issue 4): JSON and form-encoded, SQLite
	scripts/bench-ingest.sh

bench-content: ## public content API under load (issue 5): 10,000 posts on SQLite vs a bare server
	scripts/bench-content.sh

bench-webhooks: ## webhook delivery (issue 11): deliveries/s, ingest with 3 endpoints, commit to receiver, SQLite
	scripts/bench-webhooks.sh

images: ## build local/postgres:15 and local/mailpit for machines without a registry
	scripts/images.sh

lint: ## go vet and staticcheck
	go vet ./...
	go run $(STATICCHECK) ./...

generate: ## regenerate the code made from api/openapi.yaml: the Go client (client/)
	go generate ./client

fmt: ## format the Go code
	go fmt ./...

help: ## list these targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
