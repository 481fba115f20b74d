# edgesim — make help lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
PKGS      ?= ./...
BIN       := bin
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
COUNT     ?= 10
CONFIG    ?=
# Tests that need root, network namespaces or Debian peers skip with a clear
# message outside CI; with CI=true they fail instead of skipping.
export CI

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the Debian packages tests and the lab need (as root; no-op when present)
	@scripts/deps.sh

.PHONY: build
build: ## build edged and edgectl into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: run
run: deps build ## as root: the network lab (edgectl lab up); else edged on loopback (CONFIG=file); prints what to try
	@scripts/run.sh $(CONFIG)

.PHONY: test
test: deps ## install what tests need, then vet and run the whole suite with -race
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 15m $(PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m $(PKGS) >/dev/null
	@echo "make test: all passed"

.PHONY: test-root
test-root: deps ## run the root/netns suite (needs root)
	@[ "$$(id -u)" = 0 ] || { echo "make test-root: needs root (sudo -E make test-root)"; exit 1; }
	$(GO) test -race -timeout 15m -run 'Root|Netns|Lab' $(PKGS)

.PHONY: bench
# The recorded lpm figures are for GOAMD64=v3 (POPCNT and friends); the
# default v1 build falls back to a software popcount.
bench: export GOAMD64 := v3
bench: ## run the Go benchmarks (COUNT, BENCHTIME) and save bench/out/latest.txt
	@mkdir -p bench/out
	$(GO) test -run '^$$' -bench . -benchmem -count $(COUNT) -benchtime $(BENCHTIME) $(PKGS) | tee bench/out/latest.txt

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	@scripts/fuzz.sh $(FUZZTIME)

.PHONY: golden
golden: ## rewrite golden files from the current output
	$(GO) test ./api/ -run Golden -update

.PHONY: lint
lint: ## gofmt, go vet, and staticcheck when installed
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); else echo "staticcheck not installed; skipped"; fi

.PHONY: clean
clean: ## remove build output (keeps var/, the state)
	rm -rf $(BIN) bench/out
