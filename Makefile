# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Every target bootstraps .venv on first use (torch/torchvision come from local disk here).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-slow mutants bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m cnnlab train --config digits-demo

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# The mutation check: each broken version in tests/mutants/catalogue.py must fail its tests.
mutants: $(STAMP)
	$(PY) tests/mutants/run.py

bench: $(STAMP)
	$(PY) -m cnnlab bench

clean:
	rm -rf $(VENV) runs .pytest_cache
