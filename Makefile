# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make run    the main job: set up, generate a day into ./warehouse, build every asset for it
#   make test   the test suite (what CI runs)
# and one is the loop after each change:
#   make check  the tests that start no server and no fresh process (at most 5 minutes)

PYTHON ?= python3
UV_VERSION := 0.13.8
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
VENV := .venv

# Never let uv fetch a Python build: use the one on this machine.
export UV_PYTHON_DOWNLOADS := never
# Runs of `make run` land in the same instance that `dagster dev` shows.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup bytecode run test test-setup check java spark-jars spark-archive chromium postgres lint dev layers dagster-home bench screenshots

# What every target needs: the locked environment and a Java. The S3 connector comes when an
# s3:// root is first used (or with `make spark-jars`), the class archive with the first local
# run (or with `make spark-archive`).
setup: $(VENV)/.synced java

$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	touch $@

java:
	@sh scripts/ensure-java.sh

# Every installed module compiled to bytecode once, and the project's own: a Python process that
# finds none compiles each module it imports, and where PYTHONDONTWRITEBYTECODE is set (as on
# this machine) it never keeps the result, so each of the suite's run workers, code servers and
# CLI runs spent ~6 CPU-s compiling Dagster and PySpark again (docs/contributing.md). Not part of
# `make run`, whose one process would gain less than the ~13 s the compilation takes.
bytecode: $(VENV)/.compiled
$(VENV)/.compiled: $(VENV)/.synced
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q -j 0 addon_okrs harness benchmarks
	touch $@

# Spark's S3 connector, pinned and verified (addon-okrs fetch-jars): needed for s3:// roots only,
# and fetched by the first run that has one when this has not run.
spark-jars: $(VENV)/.synced
	@sh scripts/ensure-spark-jars.sh $(VENV)

# The class archive local Spark's driver starts from (addon-okrs class-archive, which prints
# its size and time), once per Java and PySpark: ahead of the first local run, which otherwise
# writes it at its exit. Runs start without it when it cannot be made.
spark-archive: $(VENV)/.synced java
	@$(VENV)/bin/addon-okrs class-archive || echo "spark-archive: none made; local runs start without it" >&2

# Both may install with apt-get, and so may `java` on a fresh machine: one at a time (order-only
# prerequisites), while the rest of `make test`'s set-up runs beside them.
chromium: | java
	@sh scripts/ensure-chromium.sh

postgres: | chromium
	@sh scripts/ensure-postgres.sh

run: setup dagster-home
	$(VENV)/bin/addon-okrs demo

# Every test, over both cores (pytest-xdist, harness/schedule.py deals the files out). The
# set-up's steps run side by side (make -j): the downloads and apt-get wait on the network
# while the environment is compiled and the class archive made.
TEST_WORKERS ?= 3
test-setup: setup bytecode spark-jars chromium postgres spark-archive
test:
	@$(MAKE) --no-print-directory -j 4 --output-sync=target test-setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

check: setup bytecode
	$(VENV)/bin/pytest -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check addon_okrs addon_okrs_tests benchmarks harness scripts
	$(VENV)/bin/ruff format --check addon_okrs addon_okrs_tests benchmarks harness scripts
	$(VENV)/bin/mypy addon_okrs benchmarks harness

# The performance benchmark, study by study (benchmarks/studies.py; `python -m benchmarks --list`),
# each its own command of at most 20 minutes that saves its results as it ends; writes
# BENCHMARKS.md. One study: make bench STUDY=scaling-4m; options over a study's own: BENCH_ARGS.
# scaling-16m is left out: its DuckDB run takes 19 GB, and beside the benchmark generating the day they outgrow 24 GB; run it alone (STUDY=scaling-16m) once its day is cached.
BENCH_STUDIES := scaling-1m scaling-4m backfill7 okrs
bench: setup
	@for study in $(or $(STUDY),$(BENCH_STUDIES)); do \
		$(VENV)/bin/python -m benchmarks --study $$study $(BENCH_ARGS) || exit 1; \
	done

# The README's pictures of the UI, taken by a headless Chromium from a fresh `dagster dev`.
screenshots: setup chromium
	PYTHONPATH=. $(VENV)/bin/python scripts/screenshots.py docs/images

# The UI (webserver + daemon) on http://127.0.0.1:$(DAGSTER_PORT); another port: make dev DAGSTER_PORT=3001
DAGSTER_PORT ?= 3000
dev: setup dagster-home
	$(VENV)/bin/dg dev -h 127.0.0.1 -p $(DAGSTER_PORT)

# The package's import graph by layer (what test_layout.py enforces).
layers: setup
	$(VENV)/bin/python -m harness.layers

dagster-home:
	mkdir -p "$(DAGSTER_HOME)"
	test -f "$(DAGSTER_HOME)/dagster.yaml" || cp deploy/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
