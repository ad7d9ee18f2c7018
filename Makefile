# conveyor: make run (the donut-orders demo on the embedded broker) and
# make test (everything CI runs). confluent-kafka-go needs cgo; its bundled
# librdkafka links statically.
GO      ?= go
BIN     := bin/runner
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: build run rewards check test test-unit lint fmt clean kafka-up kafka-down kafka-cluster-up pg-up pg-down registry-up registry-down opensearch-up opensearch-down

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./runner

# The console (and its control API) at http://127.0.0.1:7460; CONSOLE_ADDR
# moves it.
CONSOLE_ADDR ?= 127.0.0.1:7460
run: build
	./$(BIN) --console-addr $(CONSOLE_ADDR) -c configs/donut-orders.yaml

# The user-rewards scenario on SQLite and the embedded broker, with the
# simulated loyalty app; starts from an empty database each time.
REWARDS_DB ?= /tmp/conveyor-user-rewards.db
rewards: build
	rm -f $(REWARDS_DB) $(REWARDS_DB)-wal $(REWARDS_DB)-shm
	REWARDS_DSN=file:$(REWARDS_DB) ./$(BIN) -c configs/user-rewards-app.yaml -c configs/user-rewards.yaml

check: build
	./$(BIN) check -c configs/

# Fast inner loop: unit and embedded-broker tests, no race detector, no
# real Kafka or PostgreSQL.
test-unit:
	$(GO) test $$($(GO) list ./... | grep -v /integration)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Unit, engine and process tests under the race detector; then the
# integration tests against real Kafka and PostgreSQL, verbose so their
# counts and the fault table show in CI.
test: lint check
	./$(BIN) test configs/
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)
	$(GO) test -count=1 -timeout 45m -v ./integration

# A local Apache Kafka (KRaft, one node) for `KAFKA_BROKERS=<address> make run`;
# the address and folder are printed and kept in .kafka-env.
kafka-up:
	scripts/kafka.sh up --nodes 1 | tee .kafka-env

kafka-cluster-up:
	scripts/kafka.sh up --nodes 3 | tee .kafka-env

kafka-down:
	@test -f .kafka-env || { echo "no .kafka-env: nothing started by make kafka-up"; exit 1; }
	KAFKA_DIR=$$(sed -n 's/^KAFKA_DIR=//p' .kafka-env) scripts/kafka.sh down && rm -f .kafka-env

# A throwaway PostgreSQL; the DSN and folder are kept in .pg-env.
pg-up:
	scripts/postgres.sh up | tee .pg-env

pg-down:
	@test -f .pg-env || { echo "no .pg-env: nothing started by make pg-up"; exit 1; }
	PG_DIR=$$(sed -n 's/^PG_DIR=//p' .pg-env) scripts/postgres.sh down && rm -f .pg-env

# A throwaway Confluent-compatible schema registry (Apicurio, in memory);
# its URL and folder are kept in .registry-env.
registry-up:
	scripts/registry.sh up | tee .registry-env

registry-down:
	@test -f .registry-env || { echo "no .registry-env: nothing started by make registry-up"; exit 1; }
	REGISTRY_DIR=$$(sed -n 's/^REGISTRY_DIR=//p' .registry-env) scripts/registry.sh down && rm -f .registry-env

# A throwaway single-node OpenSearch 2.19.6 (built once from Maven Central's
# jars); its URL and folder are kept in .opensearch-env.
opensearch-up:
	scripts/opensearch.sh up | tee .opensearch-env

opensearch-down:
	@test -f .opensearch-env || { echo "no .opensearch-env: nothing started by make opensearch-up"; exit 1; }
	OPENSEARCH_DIR=$$(sed -n 's/^OPENSEARCH_DIR=//p' .opensearch-env) scripts/opensearch.sh down && rm -f .opensearch-env

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# Throughput harness (issue 5): the runner against a raw confluent-kafka-go
# loop on a real Kafka (KAFKA_BROKERS, or one scripts/kafka.sh starts and
# stops), interleaved rounds, report in docs/benchmarks.md. Several minutes
# on 2 cores. bench-smoke is CI's version: 20k records, correctness only.
.PHONY: bench bench-smoke
bench: build
	$(GO) build -o bin/bench ./bench
	bin/bench -runner $(BIN) -out docs/benchmarks.md

bench-smoke: build
	$(GO) build -o bin/bench ./bench
	bin/bench -smoke -runner $(BIN)

# The http source on loopback into a real Kafka (KAFKA_BROKERS, or one the
# test binary starts): 2000 requests of 100 records from 16 clients, each
# answered once Kafka acknowledged it; reports records/s and p99 answer time.
.PHONY: bench-http
bench-http:
	$(GO) test ./integration -run '^$$' -bench '^BenchmarkHTTPSource$$' -benchtime 2000x -count 1
