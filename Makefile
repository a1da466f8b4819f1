# The two commands: `make run` (the whole stack, embedded defaults) and
# `make test`. Needs only Python 3.11; the virtualenv is made on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
# Two installs, each marked by a file written after it succeeds and run again only when
# pyproject.toml changes: the product's own dependencies for `make run`, and the dev extra
# (pytest, Playwright, the examples' LangGraph, schemathesis, ruff ...) for `make test`.
RUNTIME_INSTALLED := $(VENV)/.installed-runtime
DEV_INSTALLED := $(VENV)/.installed-dev
# uv installs the dependencies: it resolves and fetches in parallel, where pip spent two of
# its ~160 s on the runtime alone resolving one package at a time (uv: ~33 s with an empty
# cache, on the same loaded 2-core machine). pip installs uv itself, once, into the
# virtualenv; nothing else is needed on the machine.
UV_REQUIREMENT := uv>=0.9,<1
UV := $(VENV)/bin/uv
# --compile-bytecode: as pip does. Without it, where PYTHONDONTWRITEBYTECODE is set (as on
# CI's machines) every start compiled every import again: daphne took 13-16 s to answer
# against 2 s (measured side by side).
UV_INSTALL := $(UV) pip install --compile-bytecode --python $(VENV)/bin/python

.PHONY: run test bench clean client-wheel

# Readable log lines for a person at a terminal (production's default is JSON); the
# processes runstack starts get the same unless LOG_FORMAT is set.
run: export LOG_FORMAT ?= text
run: $(RUNTIME_INSTALLED)
	$(VENV)/bin/python manage.py runstack

test: $(DEV_INSTALLED)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Every script in bench/ in turn; each says in its docstring what it measures.
bench: $(DEV_INSTALLED)
	for script in bench/*.py; do $(VENV)/bin/python "$$script" || exit 1; done

# The Python client's wheel (clients/python/dist/escalation_console_client-*.whl); no publishing.
client-wheel: $(RUNTIME_INSTALLED)
	$(VENV)/bin/python -m pip wheel --no-deps --wheel-dir clients/python/dist ./clients/python

# Removes the local database, secret key, collected static files and caches;
# keeps .venv (rm -rf .venv for a fresh install).
clean:
	rm -rf var/ .pytest_cache/ .ruff_cache/ *.egg-info/ clients/python/dist/ clients/python/build/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV): | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet "$(UV_REQUIREMENT)"

$(RUNTIME_INSTALLED): pyproject.toml | $(UV)
	$(UV_INSTALL) -e .
	touch $@

# The dev extra includes the runtime, so this install marks both done; after `make run`
# it adds only what the dev extra brings.
$(DEV_INSTALLED): pyproject.toml | $(UV)
	$(UV_INSTALL) -e ".[dev]"
	touch $(RUNTIME_INSTALLED) $@
