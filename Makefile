# cmp: `make run` starts the daemon, `make test` runs every check.
# Both build .venv from nothing on the first call; `make help` lists the rest.

# Python >= 3.11.  When PYTHON is not given, python3 is tried first and, if it
# is too old, python3.13, python3.12 and python3.11 from PATH.
PYTHON ?= python3
# Where `make run` listens and keeps its state.  Override on the command line:
# `make run PORT=7701`.
HOST = 127.0.0.1
PORT = 7700
STATE = .state
# Options for `make demo` (cmpc demo --help): `make demo DEMO_ARGS=--audio`.
DEMO_ARGS =

VENV := .venv
STAMP := $(VENV)/.installed
APT := DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300
# Package that provides `python3 -m venv` (and ensurepip) on Debian.
VENV_PACKAGE ?= python3-venv
# ldconfig lives in /sbin, which is not on every user's PATH.
LDCONFIG := $(or $(shell command -v ldconfig 2>/dev/null),/sbin/ldconfig)
HAS_LIBMPV := $(LDCONFIG) -p 2>/dev/null | grep -qE 'libmpv\.so\.[12]\b'

ifeq ($(origin PYTHON),file)
PYTHON_CANDIDATES := $(PYTHON) python3.13 python3.12 python3.11
else
PYTHON_CANDIDATES := $(PYTHON)
endif
# The first candidate that is >= 3.11 (empty if none is).  Looked up on first
# use only, so `make help` and `make clean` do not start any interpreter.
PY = $(eval PY := $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell \
	$(p) -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $(p)))))$(PY)
# Debian packages the bootstrap is about to need (evaluated on use).
MISSING_PACKAGES = $(strip \
	$(if $(wildcard $(VENV)/bin/python),,$(if $(PY),$(shell \
		$(PY) -c 'import venv, ensurepip' >/dev/null 2>&1 || echo $(VENV_PACKAGE)))) \
	$(shell $(HAS_LIBMPV) || echo libmpv2))

SCHEMA_SCRIPT = import json; from cmp.core.schema import protocol_schema; \
	print(json.dumps(protocol_schema(), indent=2, sort_keys=True))

URL_HOST = $(if $(findstring :,$(HOST)),[$(HOST)],$(HOST))
URL = ws://$(URL_HOST):$(PORT)

.DEFAULT_GOAL := help
.PHONY: help run demo test lint typecheck schema bench clean venv libmpv apt-update

help: ## List the targets
	@echo "cmp: a collaborative music player (cmpd daemon, cmpc client)"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  make %-10s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)
	@echo
	@echo "Variables: PYTHON=$(PYTHON) HOST=$(HOST) PORT=$(PORT) (e.g. make run PORT=7701)"

run: venv libmpv ## Start cmpd in the foreground, state in ./.state (Ctrl-C stops it)
	@echo
	@echo "cmpd is starting on $(URL)"
	@echo "  state:        $(STATE)/ (database $(STATE)/cmp.db, signing key $(STATE)/secret.key)"
	@echo "  admin token:  $(STATE)/admin.token (written on the first start)"
	@echo "  health:       curl http://$(URL_HOST):$(PORT)/healthz   (metrics: /metrics)"
	@echo
	@echo "In another terminal, in this directory:"
	@echo "  export PATH=\$$PWD/$(VENV)/bin:\$$PATH CMP_SERVER=$(URL)"
	@echo "  cmpc --profile admin login --token \"\$$(cat $(STATE)/admin.token)\""
	@echo "  cmpc --profile admin token issue --name NAME     # a host token for someone"
	@echo "  cmpc --help                                       # and README.md's walkthrough"
	@echo
	@exec $(VENV)/bin/cmpd run --host $(HOST) --port $(PORT) --state-dir $(STATE)

demo: venv libmpv ## Try cmp: a daemon, a session, two followers, live view (DEMO_ARGS=--audio to hear it)
	@exec $(VENV)/bin/cmpc demo $(DEMO_ARGS)

test: venv libmpv ## Run ruff, mypy and pytest
	$(VENV)/bin/ruff check cmp daemon tests
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest

lint: venv ## Run ruff only
	$(VENV)/bin/ruff check cmp daemon tests

typecheck: venv ## Run mypy only (strict; see pyproject.toml)
	$(VENV)/bin/mypy

schema: venv ## Regenerate docs/protocol.schema.json from the protocol models
	@$(VENV)/bin/python -c '$(SCHEMA_SCRIPT)' > docs/protocol.schema.json.tmp \
		|| { rm -f docs/protocol.schema.json.tmp; exit 1; }
	@mv docs/protocol.schema.json.tmp docs/protocol.schema.json
	@echo "wrote docs/protocol.schema.json"

bench: venv libmpv ## Run the benchmarks in tests/bench (slow; each prints JSON)
	@set -e; found=; for script in tests/bench/bench_*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "==> $$script" >&2; \
		PYTHONPATH=$(CURDIR) $(VENV)/bin/python "$$script"; \
	done; [ -n "$$found" ] || { echo "no tests/bench/bench_*.py scripts" >&2; exit 1; }

clean: ## Remove .venv and caches (keeps .state)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
	find . -path ./.git -prune -o -path ./$(STATE) -prune \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +

venv: $(STAMP) ## Create .venv and install cmp with its dev tools (done by run and test)
	@:

# Installs again whenever pyproject.toml changes.
$(STAMP): pyproject.toml | apt-update
	@if [ -z "$(PY)" ]; then \
		echo "cmp needs Python >= 3.11; tried: $(PYTHON_CANDIDATES)." >&2; \
		echo "Install one (Debian 12: sudo apt-get install python3) or run make PYTHON=/path/to/python3.11." >&2; \
		exit 1; \
	fi
	@if [ ! -x $(VENV)/bin/python ] && ! $(PY) -c 'import venv, ensurepip' >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "==> apt-get install $(VENV_PACKAGE) ($(PY) cannot create a venv)"; \
			$(APT) install -y --no-install-recommends $(VENV_PACKAGE); \
		else \
			echo "$(PY) cannot create a virtual environment; install Python's venv module:" >&2; \
			echo "  sudo apt-get install $(VENV_PACKAGE)" >&2; \
			exit 1; \
		fi; \
	fi
	@if [ ! -x $(VENV)/bin/python ]; then \
		echo "==> creating $(VENV) with $(PY) ($$($(PY) -c 'import sys; print(sys.version.split()[0])'))"; \
		$(PY) -m venv $(VENV); \
	fi
	@echo "==> installing cmp and its dev tools into $(VENV)"
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

libmpv: | apt-update ## Install Debian's libmpv2 if missing (for the follower; needs root)
	@if $(HAS_LIBMPV); then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "==> apt-get install libmpv2"; \
		$(APT) install -y --no-install-recommends libmpv2; \
	else \
		echo "install libmpv2: sudo apt-get install libmpv2"; \
		echo "  (the follower, cmpc follow, plays through it; the daemon does not need it)"; \
	fi

# Refreshes the package lists once per make run, and only when a package is
# about to be installed.
apt-update:
	@if [ -n "$(MISSING_PACKAGES)" ] && [ "$$(id -u)" = 0 ]; then \
		echo "==> apt-get update (to install: $(MISSING_PACKAGES))"; \
		$(APT) update; \
	fi
