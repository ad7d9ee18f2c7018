# conveyor: make run (the donut-orders demo on the embedded broker) and
# make test (everything CI runs). confluent-kafka-go needs cgo; its bundled
# librdkafka links statically.
GO      ?= go
BIN     := bin/runner
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: build run check test test-unit lint fmt clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./runner

run: build
	./$(BIN) -c configs/donut-orders.yaml

check: build
	./$(BIN) check -c configs/

# Fast inner loop: unit and embedded-broker tests, no race detector.
test-unit:
	$(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

test: lint check
	$(GO) test -race -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
