# The two commands of the README are `make run` and `make test`; both install what is missing first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

AZ_CLI_VERSION := 2.91.0
AZ_VENV ?= .venv-az

.PHONY: install run test test-services lint format bench bench-smoke screenshots az-cli clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## Start the portal, a Celery worker (every region queue) and beat, with the demo data. Ctrl-C stops all.
run: $(STAMP)
	$(PY) manage.py up

## The test suite on the embedded default (SQLite, filesystem broker, local region storage).
test: $(STAMP)
	$(PY) -m pytest

## The same suite against PostgreSQL and Redis on this machine; a missing service fails the run.
test-services: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/15} \
	REQUIRE_SERVICES=1 $(PY) -m pytest

## The Azure CLI the az scenario tests drive (tests/cli), pinned, in its own venv (never the project's);
## nothing to do when that version is already there. --no-compile: pip byte-compiles the CLI's thousands of
## modules otherwise (59 s against 24 s for the whole install here); az compiles the few it imports on first use.
az-cli:
	@if $(AZ_VENV)/bin/python -c 'import importlib.metadata as m; print(m.version("azure-cli"))' 2>/dev/null \
	    | grep -qx '$(AZ_CLI_VERSION)'; then \
	  echo "azure-cli $(AZ_CLI_VERSION) is in $(AZ_VENV)"; \
	else \
	  test -x $(AZ_VENV)/bin/python || $(PYTHON) -m venv $(AZ_VENV); \
	  $(AZ_VENV)/bin/python -m pip install --quiet --upgrade pip; \
	  $(AZ_VENV)/bin/python -m pip install --quiet --no-compile 'azure-cli==$(AZ_CLI_VERSION)'; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## Every benchmark in bench/ at its full size (minutes each), one after the other; the first that fails stops
## the run and fails make.
bench: $(STAMP)
	@for b in bench/*.py; do \
	  [ -e "$$b" ] || continue; case "$$b" in bench/_*) continue;; esac; \
	  echo "== $(PY) $$b"; \
	  $(PY) $$b || { echo "FAILED: $(PY) $$b" >&2; exit 1; }; \
	done

## Every benchmark in bench/ at a tiny size (--smoke: seconds each, the whole path, its summary lines), one
## after the other on the embedded default (SQLite, the embedded broker, whatever DATABASE_URL and
## CELERY_BROKER_URL say); the first that fails stops the run and fails make. Run by .ci/run.
bench-smoke: $(STAMP)
	@for b in bench/*.py; do \
	  [ -e "$$b" ] || continue; case "$$b" in bench/_*) continue;; esac; \
	  echo "== $(PY) $$b --smoke"; \
	  env -u DATABASE_URL -u CELERY_BROKER_URL $(PY) $$b --smoke || { echo "FAILED: $(PY) $$b --smoke" >&2; exit 1; }; \
	done

## PNGs of the main pages into docs/screenshots/, from a portal already running (`make run` in another terminal).
screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

clean:
	rm -rf var/ .pytest_cache .ruff_cache
