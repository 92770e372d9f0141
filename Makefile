# The two commands of the README: `make demo` (main job on embedded defaults) and `make test`.
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint

install:
	./scripts/bootstrap.sh

demo: install
	.venv/bin/museed demo

# every suite: SQLite + PostgreSQL, Milvus Lite + a real Milvus server
test: install
	.venv/bin/python -m pytest $(PYTEST_ARGS)

# embedded stack only (no PostgreSQL, no Milvus server)
test-fast: install
	.venv/bin/python -m pytest -m "not postgres and not milvus_server and not slow" $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
