# Gauntlet — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.30.0
ORT_SHA256 := ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
ORT_DIR := .ort
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/gauntlet-ml/gauntlet/internal/version.Version=$(VERSION)
export ONNXRUNTIME_SHARED_LIBRARY_PATH ?= $(CURDIR)/$(ORT_LIB)

.PHONY: help ort build test demo bench lint clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

ort: $(ORT_LIB) ## fetch the ONNX Runtime CPU library (npm onnxruntime-node@$(ORT_VERSION)) into .ort/

$(ORT_LIB):
	@mkdir -p $(ORT_DIR)/tmp
	cd $(ORT_DIR)/tmp && npm pack --silent onnxruntime-node@$(ORT_VERSION) >/dev/null
	tar -xzf $(ORT_DIR)/tmp/onnxruntime-node-$(ORT_VERSION).tgz -C $(ORT_DIR)/tmp package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	echo "$(ORT_SHA256)  $(ORT_DIR)/tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --quiet
	mv $(ORT_DIR)/tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $(ORT_LIB)
	rm -rf $(ORT_DIR)/tmp

build: ## build bin/gauntlet
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/gauntlet ./cmd/gauntlet

test: ort ## run every test (fetches ONNX Runtime first)
	$(GO) test -count=1 ./...

demo: ort build ## run the demo job on the shipped digits model and data
	./bin/gauntlet run -c examples/demo.yaml --out out --ort-library $(ORT_LIB)

bench: ort ## run the Go benchmarks and the benchmarks/ harness
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build outputs (keeps .ort/)
	rm -rf bin out
