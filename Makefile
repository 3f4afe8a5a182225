# durable-etl: make demo (the main job end to end on the local emulator),
# make test (everything), make bench (throughput and memory against baselines).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DEMO_EXECUTIONS ?= 300

# Where test-deps caches what it builds (MinIO); the S3 tests run that binary.
ETL_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/durable-etl
export ETL_CACHE_DIR
export ETL_TEST_MINIO_BIN ?= $(ETL_CACHE_DIR)/minio-bin/minio

.PHONY: build demo test test-deps bench fuzz clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# With DEMO_PG_URL set (e.g. postgres://user@localhost:5432/db), the demo
# also loads Postgres: it migrates the schema and adds the URL as a --dest.
ifneq ($(DEMO_PG_URL),)
DEMO_FLAGS += --dest $(DEMO_PG_URL) --migrate
endif

# The emulator serves seeded executions of five durable functions (and two
# functions that are not durable) on a loopback port and runs the nightly
# job with AWS_ENDPOINT_URL_LAMBDA pointing at itself: etl finds every
# durable function (--all-functions), discovers each one's executions (no
# manifest, no tokens) and archives them from their history, then etl verify
# proves the archive matches the API. The emulator stops when they end and
# exits with their status.
demo: build
	@mkdir -p .demo
	bin/lambda-emulator -executions $(DEMO_EXECUTIONS) -seed 1 -- sh -c '\
		bin/etl run --all-functions --dest ./archive --report .demo/report.json $(DEMO_FLAGS) && \
		bin/etl verify --all-functions --dest ./archive --sample 100 --seed 1 --report .demo/verify.json'

	@echo
	@echo "Parquet files (Athena layout) under ./archive:"
	@find archive -name '*.parquet' -not -path '*/_incoming/*' | sort | sed 's/^/  /' | head -21
	@echo "Run report: .demo/report.json; verification: .demo/verify.json; schema: bin/etl schema parquet"

# Installs what the tests need and this machine lacks (PostgreSQL server
# binaries, a pinned MinIO build); does nothing when all is there.
test-deps:
	@scripts/test-deps.sh >/dev/null

# staticcheck at a pinned version, run from the module proxy's source (no
# install, no change to go.mod).
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The race detector's pass runs with -short: a test heavy on CPU uses less
# data there (`if testing.Short() { // the race run`), the plain pass
# keeps the full data. On two cores the race pass is half of a cold
# .ci/run; its packages are listed longest first (go test starts them in
# that order, two at a time), so cmd/etl's no longer starts last. Its
# -timeout: cmd/etl's race pass comes near go test's default 10 minutes
# on two cores, and passed it with other work on the machine (seen once).
test: test-deps
	@out=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short -timeout 20m ./cmd/etl/ ./load/ ./pipeline/ ./extract/... ./verify/ ./discovery/
	cd tests/duckdb && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 ./...

# Runs every fuzz test for FUZZTIME each (their seeds already run in make
# test). A failing input is written under the package's testdata/fuzz/:
# commit it with the fix, and it stays a test. scripts/fuzz.sh tells a
# failure of Go's own fuzzing coordinator (no input written) from a finding.
FUZZTIME ?= 2m
fuzz:
	@GO="$(GO)" FUZZTIME="$(FUZZTIME)" scripts/fuzz.sh

bench: build test-deps
	$(GO) test -run '^$$' -bench Decode -benchtime 30x ./extract/decode/
	$(GO) test -run '^$$' -bench UnknownMembers -benchtime 30x ./extract/decode/
	$(GO) test -run '^$$' -bench SmallFileWriter -benchtime 500x ./load/
	$(GO) test -run '^$$' -bench PipelineVsDrain -benchtime 7x ./pipeline/
	$(GO) test -run '^$$' -bench 'Backfill$$' -benchtime 3x -timeout 30m ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench BackfillRSS -benchtime 2x -timeout 30m ./pipeline/
	$(GO) test -run '^$$' -bench 'HistoryVsDrain$$' -benchtime 5x ./pipeline/
	$(GO) test -run '^$$' -bench HistoryLatencyBound -benchtime 3x ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench HistoryVsDrainBinary -benchtime 5x ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench '^BenchmarkMillionEventsRSS$$' -benchtime 3x -timeout 30m ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench VerifyMillionEventsRSS -benchtime 1x -timeout 30m ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench ManyLargeExecutionsRSS -benchtime 1x -timeout 30m ./pipeline/
	$(GO) test -run '^$$' -bench PostgresLoader -benchtime 7x ./load/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench Compact -benchtime 2x -timeout 30m ./load/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench MillionOperationsRSS -benchtime 1x -timeout 30m ./pipeline/
	$(GO) test -run '^$$' -bench S3TwoGiBRSS -benchtime 1x -timeout 30m ./cmd/etl/
	$(GO) test -run '^$$' -bench 'Verify$$' -benchtime 1x -timeout 30m ./cmd/etl/
	$(GO) test -run '^$$' -bench VerifyForgotten -benchtime 3x -timeout 30m ./cmd/etl/
	$(GO) test -run '^$$' -bench '^BenchmarkLatencyBound$$' -benchtime 1x -timeout 30m ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench ManySmallExecutionsRSS -benchtime 1x -timeout 30m ./pipeline/
	ETL_BIN=$(CURDIR)/bin/etl $(GO) test -run '^$$' -bench ManyDiscoveredExecutionsRSS -benchtime 1x -timeout 30m ./pipeline/
	$(GO) test -run '^$$' -bench DiscoveredBytes -benchtime 3x ./discovery/

clean:
	rm -rf bin .demo archive
