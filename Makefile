# The two commands a newcomer needs:
#   make run    — install everything and run the whole platform on this machine
#   make test   — install everything, start Kafka and PostgreSQL, run lint, types and all tests
#   make test-fast — the tests that need no Kafka, PostgreSQL, browser or processes (about 1 minute)
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: run demo test test-fast test-tools install lint typecheck pytest bench clean deploy-tools

# Bytecode is compiled once here, for the dependencies (uv's --compile-bytecode) and for the
# workspace's own sources (installed editable, so uv leaves them): where PYTHONDONTWRITEBYTECODE
# is set, as on this machine, every process would otherwise compile everything it imports
# from source (about 3 s of CPU for a service process; the tests start many).
install:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user "uv>=0.5"
	@"$(UV)" sync --frozen --quiet --compile-bytecode
	@"$(UV)" run --frozen --no-sync python -m compileall -q -j 0 services shared src >/dev/null

run: install
	@"$(UV)" run linli run

demo: install
	@"$(UV)" run linli demo

lint: install
	"$(UV)" run ruff check .
	"$(UV)" run ruff format --check .
	"$(UV)" run lint-imports --no-cache

# mypy keeps its cache beside uv's, outside the clone: a fresh clone on a machine that ran it
# before is checked in about a second instead of 20 (mypy re-checks every file whose content
# differs from what the cache saw, whichever clone it came from).
MYPY_CACHE ?= $(HOME)/.cache/linli/mypy

typecheck: install
	"$(UV)" run mypy --cache-dir "$(MYPY_CACHE)" .

# Two test processes (pytest-xdist), each with its own Kafka and PostgreSQL. A module's tests
# stay in one process (--dist loadfile), so a module-scoped platform starts once; modules are
# handed out in the order tests/conftest.py sorts them (--no-loadscope-reorder): the fault tests
# first. (Three processes measured slower on two cores.)
PYTEST_WORKERS ?= 2

# What the tests install or fetch on first use, once, before parallel test processes start.
test-tools: install
	deploy/local/postgres.sh install
	deploy/local/kafka.sh install
	"$(UV)" run python -m tests.support.prefetch

pytest: install test-tools
	"$(UV)" run pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The fast tier: domain, contract and service tests on SQLite; no servers, nothing to start.
test-fast: install
	"$(UV)" run pytest -m "not servers" -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The validators of deploy/k8s (kubeconform, kube-score, the Kubernetes, Strimzi and Gateway API
# schemas), pinned, into ~/.cache/linli/; `make test` fetches them on first use anyway.
deploy-tools: install
	"$(UV)" run python -m tests.deploy.upstream

# Benchmarks (bench/README.md): starts Kafka and PostgreSQL itself unless LINLI_TEST_* name them.
# `make bench BENCH_ARGS="--quick --only loop"`
bench: install
	bash bench/install-tools.sh
	"$(UV)" run --group bench python -m bench $(BENCH_ARGS)

clean:
	rm -rf .local .linli .pytest_cache .mypy_cache .ruff_cache
