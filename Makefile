# kafka-upstream for Envoy. `make help` lists the targets.
#
# Everything a target needs is fetched by the project's own scripts and
# cached under $HOME (Go module cache, ~/.m2, ~/.cache/kafka-upstream).

SHELL := /bin/bash
GO    ?= go
BUILD := build

SO      := $(BUILD)/kafka-upstream.so
EXTPROC := $(BUILD)/extproc
GO_SRC  := $(shell find . -name '*.go' -not -path './build/*' 2>/dev/null) go.mod go.sum

# Tests that need a broker get it from e2e/kafka.sh through these.
export KAFKA_PORT            ?= 19092
export KAFKA_CONTROLLER_PORT ?= 19093

.PHONY: help build proto test unit abi-check integration e2e run bench clean

help:
	@echo "make build        the Envoy golang filter (.so) and the ext_proc server"
	@echo "make run          Kafka + ext_proc server + stock Envoy on 127.0.0.1:10000 (Ctrl-C stops all)"
	@echo "make test         everything below, starting and stopping Kafka and Envoy itself"
	@echo "make unit         go vet and unit tests (-race), no servers"
	@echo "make abi-check    the .so against the pinned SDK's api.h, loaded by a C host"
	@echo "make integration  the filter against a real Kafka broker"
	@echo "make e2e          HTTP through a real stock Envoy + ext_proc + Kafka"
	@echo "make proto        regenerate config/kafkaupstream.pb.go"

build: $(SO) $(EXTPROC)

# The .so Envoy's golang filter loads. cgo is required by the SDK.
$(SO): $(GO_SRC)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $@ ./envoy/golang
	@rm -f $(BUILD)/kafka-upstream.h   # emitted by c-shared, of no use

$(EXTPROC): $(GO_SRC)
	CGO_ENABLED=0 $(GO) build -o $@ ./envoy/extproc

proto:
	e2e/tools.sh
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I config \
	  --go_out=. --go_opt=module=github.com/kafka-upstream/envoy-kafka-upstream \
	  config/kafkaupstream.proto

test: unit abi-check integration e2e

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

abi-check: $(SO)
	e2e/abi-check.sh $(SO) kafka-upstream envoy.yaml e2e/testdata/bad-plugin-config.yaml

# Starts a broker for the run and stops it afterwards, even on failure.
integration:
	e2e/with-kafka.sh $(GO) test -race -count=1 -tags integration ./e2e/integration/...

e2e: $(EXTPROC)
	e2e/with-kafka.sh $(GO) test -count=1 -tags e2e -timeout 15m ./e2e/envoy/...

run: $(EXTPROC)
	e2e/run.sh

clean:
	rm -rf $(BUILD)
