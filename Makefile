# Two entry points for people: `make demo` and `make test`. Everything else is set-up they share.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: demo test lint typecheck pytest bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/gpuledger demo $(DEMO_ARGS)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check src app tests bench
	$(VENV)/bin/ruff format --check src app tests bench
	$(VENV)/bin/lint-imports --no-cache --no-logo .importlinter

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

pytest: $(VENV)/.synced
	$(VENV)/bin/pytest -n 2 --timeout 600 $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.synced
	$(VENV)/bin/python -m bench.attribution
	$(VENV)/bin/python -m bench.ingest_cur
	$(VENV)/bin/python -m bench.cli_startup

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
