# Bulkhead: the commands a developer and CI run. See README.md.
CARGO ?= cargo
PG_URL ?= $(BULKHEAD_TEST_PG_URL)

.PHONY: run build certs test test-pg lint fmt e2e bench bench-http bench-scale clean-data deploy-check segmentation

## Build and run all four servers with demo data on SQLite under ./data.
run: build
	./target/debug/bulkhead up --demo

build:
	$(CARGO) build --bins

## Demo CA and service certificates under ./certs (make run does this too).
certs: build
	./target/debug/bulkhead certs demo

## The whole suite on SQLite (no PostgreSQL needed; tests that need it show as ignored).
test: build
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || echo "no chromium: the browser tests will show as ignored (apt-get install chromium chromium-driver)"
	@command -v moto_server >/dev/null || echo "no moto_server: the S3 object store tests will show as ignored (python3 -m pip install 'moto[server]')"
	env -u BULKHEAD_TEST_PG_URL $(CARGO) test --workspace

## The same suite on PostgreSQL (each test in its own fresh database),
## with the PostgreSQL-only tests that `make test` shows as ignored.
test-pg: build
	@test -n "$(PG_URL)" || { echo "set BULKHEAD_TEST_PG_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres"; exit 2; }
	BULKHEAD_TEST_PG_URL="$(PG_URL)" $(CARGO) test --workspace -- --include-ignored

## End-to-end: the real binaries through `bulkhead up`.
e2e: build
	$(CARGO) test -p cli --test cli

## Benchmarks (release build): each figure printed beside a baseline of the same run.
## The file bench seals BULKHEAD_BENCH_FILE_MB (default 1024) MiB on the local disk.
bench:
	$(CARGO) bench -p common --bench kernel
	$(CARGO) bench -p common --bench files
	$(CARGO) bench -p testkit --bench online_copy

## HTTP benchmark (release build): the demo hospital under wrk on SQLite (and
## PostgreSQL when BULKHEAD_TEST_PG_URL is set), with same-run ratios.
bench-http:
	$(CARGO) build --release --bins
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	python3 scripts/bench_http.py

## Patient lists and search at a hospital's size (release build): BULKHEAD_SCALE_PATIENTS
## (default 20000) patients registered through the API, the doctor on 50 care teams.
bench-scale:
	$(CARGO) build --release --bins
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	python3 scripts/bench_scale.py --patients $${BULKHEAD_SCALE_PATIENTS:-20000}

## deploy/container/compose.yaml wires the servers only as the call graph allows.
deploy-check:
	@python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml || python3 -m pip install --quiet --break-system-packages pyyaml
	python3 deploy/container/check_compose.py

## Four network namespaces, the real binaries in production mode, and every
## forbidden edge tried (needs root, ip, nft; says SKIPPED otherwise).
segmentation: build
	python3 scripts/segmentation.py --bin-dir target/debug

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Forget the demo databases and certificates.
clean-data:
	rm -rf data certs/*.crt certs/*.key certs/*.crl certs/*.json
