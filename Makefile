# Keel's verbs: `make` or `make help` lists them. .PHONY matters: test/ and
# bench/ are folders, which make would otherwise take as up to date.

# staticcheck 2026.2.2, pinned and run by go run: no install step.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# oasdiff v1.39.0, pinned and run by go run like staticcheck, for make api-diff.
OASDIFF := github.com/oasdiff/oasdiff@v1.39.0
# make api-diff compares API_REVISION with API_BASE; an empty API_BASE is
# the last released document (scripts/api-diff.sh).
API_REVISION ?= api/openapi.yaml
API_BASE ?=
# Extra go test arguments for make test, e.g. ARGS='-run TestX ./adapters/...'.
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: run build test bench bench-ingest bench-content bench-console bench-webhooks bench-backup bench-memory bench-import bench-media images image lint generate api-diff fmt help

# The version, commit and state of the tree that keel version and
# GET /v1/instance report, set at link time: go run stamps no build
# information of its own. The version is the nearest tag (git describe),
# or left to the binary (devel and the commit) when there is none.
BUILD_PKG := github.com/keelhq/keel/cmd/keel/bootstrap
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell git status --porcelain 2>/dev/null | grep -q . && echo true || echo false)
LDFLAGS = -s -w -X $(BUILD_PKG).version=$(VERSION) -X $(BUILD_PKG).commit=$(COMMIT) -X $(BUILD_PKG).modified=$(MODIFIED)
# keel is built as the image builds it (scripts/images/keel/build.sh):
# static, without symbol tables, and with the nomsgpack tag, which leaves
# out gin's MessagePack codec: Keel binds no request through gin. The
# binary goes from 75 to 46 MB, and an idle server from 63 to 57 MB of
# resident memory (BENCHMARKS.md, issue 14).
BUILD_FLAGS = -trimpath -tags nomsgpack

run: ## run the server: embedded SQLite, console mailer
	CGO_ENABLED=0 go run $(BUILD_FLAGS) -ldflags "$(LDFLAGS)" ./cmd/keel serve

build: ## build bin/keel
	CGO_ENABLED=0 go build $(BUILD_FLAGS) -ldflags "$(LDFLAGS)" -o bin/keel ./cmd/keel

test: ## go vet, then every test with -race; starts dockerd and builds images if needed
	scripts/test.sh $(ARGS)

bench: ## load scenarios: the figures for BENCHMARKS.md
	go test -run '^$$' -bench . -benchmem ./... && scripts/bench.sh

bench-ingest: ## form submission ingest under load (issues 4, 14): JSON and form-encoded, SQLite with the dispatcher on and PostgreSQL in a container
	scripts/bench-ingest.sh

bench-content: ## public content API under load (issue 5): 10,000 posts on SQLite vs a bare server
	scripts/bench-content.sh

bench-console: ## console pages (issue 13): p95 server time and weight of each page, 100,000 submissions and 10,000 posts, SQLite
	go test -run '^$$' -bench BenchmarkConsolePages -benchtime 200x ./cmd/keel/bootstrap

bench-webhooks: ## webhook delivery (issue 11): deliveries/s, ingest with 3 endpoints, commit to receiver, SQLite
	scripts/bench-webhooks.sh

bench-backup: ## keel backup, verify and restore of 1,000,000 submissions (issue 14): time, peak RSS, archive size, SQLite
	scripts/bench-backup.sh

bench-memory: ## resident memory of keel serve after a mixed load of content reads and submissions (issue 14), SQLite
	scripts/bench-memory.sh

bench-media: ## media (issue 16): a cached 50 KB image variant under wrk vs a bare server, 5 MB uploads vs cp, RSS during 20 concurrent uploads, SQLite
	scripts/bench-media.sh

bench-import: ## keel import wordpress of a generated WXR file of 10,000 posts (issue 15): seconds per import, SQLite
	go test -run '^$$' -bench BenchmarkImportWordPress10k -benchtime 1x -count 1 ./test/imports

images: ## build local/postgres:15, local/mailpit, local/redis:7 and local/seaweedfs for machines without a registry
	scripts/images.sh

image: ## build local/keel: the static keel binary on scratch, non-root, with a HEALTHCHECK (README, Deploying)
	VERSION="$(VERSION)" COMMIT="$(COMMIT)" MODIFIED="$(MODIFIED)" scripts/images.sh keel

lint: ## go vet, staticcheck and api-diff
	go vet ./...
	go run $(STATICCHECK) ./...
	OASDIFF=$(OASDIFF) scripts/api-diff.sh

api-diff: ## fail on a breaking change inside /v1 since the last release (the newest tag's document, else api/released/v1.yaml)
	OASDIFF=$(OASDIFF) scripts/api-diff.sh $(API_REVISION) $(API_BASE)

generate: ## regenerate the code made from api/openapi.yaml: the Go client (client/) and the TypeScript client's types (clients/js)
	go generate ./client
	cd clients/js && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent generate

fmt: ## format the Go code
	go fmt ./...

help: ## list these targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  make %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
