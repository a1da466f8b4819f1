# The two commands: `make run` (the whole stack, embedded defaults) and
# `make test`. Needs only Python 3.11; the virtualenv is made on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
# Written after a successful install; pip runs again only when pyproject.toml changes.
INSTALLED := $(VENV)/.installed

.PHONY: run test bench clean client-wheel

# Readable log lines for a person at a terminal (production's default is JSON); the
# processes runstack starts get the same unless LOG_FORMAT is set.
run: export LOG_FORMAT ?= text
run: $(INSTALLED)
	$(VENV)/bin/python manage.py runstack

test: $(INSTALLED)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Every script in bench/ in turn; each says in its docstring what it measures.
bench: $(INSTALLED)
	for script in bench/*.py; do $(VENV)/bin/python "$$script" || exit 1; done

# The Python client's wheel (clients/python/dist/escalation_console_client-*.whl); no publishing.
client-wheel: $(INSTALLED)
	$(VENV)/bin/python -m pip wheel --no-deps --wheel-dir clients/python/dist ./clients/python

# Removes the local database, secret key, collected static files and caches;
# keeps .venv (rm -rf .venv for a fresh install).
clean:
	rm -rf var/ .pytest_cache/ .ruff_cache/ *.egg-info/ clients/python/dist/ clients/python/build/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e ".[dev]"
	touch $@
