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

.PHONY: help ort build install test demo readme-demo nightly render bench bench-grad-peer bench-peer peer-times zoo lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/$$(ORT_VERSION)/$(ORT_VERSION)/' | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

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

PREFIX ?= $(HOME)/.local

install: ort build ## install bin/gauntlet and the ONNX Runtime library under PREFIX (default ~/.local): PREFIX/bin, PREFIX/lib/gauntlet
	install -d $(PREFIX)/bin $(PREFIX)/lib/gauntlet
	install -m 0755 bin/gauntlet $(PREFIX)/bin/gauntlet
	install -m 0644 $(ORT_LIB) $(PREFIX)/lib/gauntlet/libonnxruntime.so.1
	@echo "installed $(PREFIX)/bin/gauntlet (it finds $(PREFIX)/lib/gauntlet/libonnxruntime.so.1 by itself)"

PKGS ?= ./...

test: ort ## run every test (fetches ONNX Runtime first): ok/FAIL per package, every skip with its reason, a summary line; fails on a skip outside .ci/allowed-skips
	@mkdir -p out/ci
	$(GO) build -o out/ci/testsummary ./.ci/testsummary
	set -o pipefail; $(GO) test -count=1 -json $(PKGS) | tee out/ci/test.json | out/ci/testsummary -allow .ci/allowed-skips

# FUZZ_TARGETS are the fuzz targets, package:Fuzz name (docs/security.md).
FUZZ_TARGETS := scan:FuzzModel data:FuzzNPY data:FuzzNPZ data:FuzzNPYHeader data:FuzzLoadCSV config:FuzzLoad reports:FuzzParseGate reports:FuzzParseReport
FUZZTIME ?= 3m
FUZZPARALLEL ?= 1

# A run that fails with only "context deadline exceeded" at the -fuzztime
# boundary, with no failing input written, is Go 1.26's fuzz-coordinator race
# (golang/go#75804, fixed in Go 1.27), not a finding: that target is run once
# more. Any other failure, or a second one, fails.
fuzz: ## run every fuzz target in turn for FUZZTIME (default 3m) with FUZZPARALLEL workers (default 1); crashers land in <pkg>/testdata/fuzz/
	@set -eo pipefail; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
		for try in 1 2; do \
			echo "== $$pkg $$name for $(FUZZTIME)"; \
			if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) ./$$pkg 2>&1 | tee $$log; then break; fi; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "== $$name: deadline race at -fuzztime with no failing input (golang/go#75804): once more"; continue; fi; \
			exit 1; \
		done; \
	done

DEMO_FLAGS ?=

demo: ort build ## run examples/demo.yaml: accuracy, evasion, membership, fairness, poisoning on the Adult demo model; reports in out/demo
	@start=$$(date +%s%N); ./bin/gauntlet run -c examples/demo.yaml --ort-library $(ORT_LIB) $(DEMO_FLAGS); code=$$?; \
		secs=$$(awk -v s=$$start -v e=$$(date +%s%N) 'BEGIN { printf "%.1f", (e - s) / 1e9 }'); \
		echo "make demo: $$secs s after the build, exit $$code; reports in out/demo/"; \
		exit $$code

readme-demo: ort build ## run the demo, splice its summary into README.md and render docs/demo-report.png (needs chromium)
	scripts/readme-demo.sh

nightly: ort build ## two nightly runs of a model pair: the regression gate fails (exit 1) with a McNemar test
	rm -rf out/nightly
	./bin/gauntlet run -c examples/nightly/nightly.yaml --set model=examples/digits_cnn.onnx --out out/nightly/before --ort-library $(ORT_LIB) --progress none
	@set +e; ./bin/gauntlet run -c examples/nightly/nightly.yaml --set model=examples/nightly/after.onnx --out out/nightly/after \
		--baseline out/nightly/before/report.json --ort-library $(ORT_LIB) --progress none | tee out/nightly/after.txt; \
		code=$${PIPESTATUS[0]}; echo "exit code $$code (expected 1: the regression gate failed)"; test $$code -eq 1
	@grep -q "McNemar" out/nightly/after.txt
	./bin/gauntlet keygen out/nightly/key
	./bin/gauntlet sign out/nightly/after/report.json --key out/nightly/key.key
	./bin/gauntlet verify out/nightly/after/report.json --key out/nightly/key.pub

REPORT ?= out/nightly/after/report.html

render: build ## render REPORT (default: the nightly job's HTML report, made first) to a PNG in headless Chromium
	@if [ "$(REPORT)" = out/nightly/after/report.html ] && [ ! -f "$(REPORT)" ]; then $(MAKE) --no-print-directory nightly; fi
	scripts/render-html.sh $(REPORT) $(basename $(REPORT)).png

BENCH_MODEL ?= $(if $(wildcard ../shared/fixtures/vision/mnist_cnn.onnx),../shared/fixtures/vision/mnist_cnn.onnx,examples/digits_cnn.onnx)

bench: ort ## run the Go benchmarks and the benchmarks/ harness (harness/bare ORT throughput ratio)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./benchmarks/ortratio -model $(BENCH_MODEL)

GRAD_BATCHES ?= 8,32
GRAD_THREADS ?= 1,2
GRAD_MIN_TIME ?= 1
TORCH_BLAS_DIR ?=

bench-grad-peer: ort ## gradient/forward cost on ResNet-18 and the zoo's ViT beside PyTorch fwd+bwd (GRAD_BATCHES, GRAD_THREADS, TORCH_BLAS_DIR; docs/zoo.md)
	@mkdir -p out/bench-grad
	$(GO) build -o out/bench-grad/gradratio ./benchmarks/gradratio
	GRAD_BATCHES=$(GRAD_BATCHES) GRAD_THREADS=$(GRAD_THREADS) GRAD_MIN_TIME=$(GRAD_MIN_TIME) ORT_VERSION=$(ORT_VERSION) \
		$(if $(TORCH_BLAS_DIR),LD_LIBRARY_PATH=$(TORCH_BLAS_DIR)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}) /usr/bin/python3 scripts/zoo/bench_grad.py

PEER_REPS ?= 3
PEER_THREADS ?= 1

bench-peer: ort ## PGD-40 in Gauntlet (per step and fused) beside a plain PyTorch loop on the same weights, MNIST CNN and a residual CNN (PEER_REPS, PEER_THREADS, TORCH_BLAS_DIR; benchmarks/pgdpeer/peer.py)
	@mkdir -p out/bench-peer
	$(GO) build -o out/bench-peer/pgdpeer ./benchmarks/pgdpeer
	PEER_REPS=$(PEER_REPS) PEER_THREADS=$(PEER_THREADS) ORT_VERSION=$(ORT_VERSION) \
		$(if $(TORCH_BLAS_DIR),LD_LIBRARY_PATH=$(TORCH_BLAS_DIR)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}) /usr/bin/python3 benchmarks/pgdpeer/peer.py

PEER_TIMES_ROUNDS ?= 2

peer-times: ort build ## certify, autoattack and corruption beside the ART port, the AutoAttack reference and the ImageNet-C reference functions, interleaved, one thread each: ratios of run times (scripts/peer-times.py; ROUNDS via PEER_TIMES_ROUNDS)
	ROUNDS=$(PEER_TIMES_ROUNDS) ORT_LIB=$(ORT_LIB) /usr/bin/python3 scripts/peer-times.py

zoo: ort build ## export real architectures (Debian python3-torch/torchvision) and check gradients vs PyTorch: docs/zoo.md (ZOO=resnet18,vit for a subset)
	ZOO="$(ZOO)" /usr/bin/python3 scripts/zoo/zoo.py

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build outputs (keeps .ort/)
	rm -rf bin out
