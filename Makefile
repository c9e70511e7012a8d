# Two commands set everything up on a fresh machine with only python3:
#   make demo   -> creates .venv, installs torch==2.13.0 then flowstats, runs `flowstats demo`
#   make test   -> the same set-up plus test tools, then ruff and the test suite
# torch is installed first, pinned, so that pip never resolves an unpinned torch (which would pull
# several GB of CUDA packages). Set TORCH_SPEC to install another build, e.g. a CUDA wheel.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output
# the suite runs on every core (pytest-xdist, an idle worker takes pending tests from the other):
# 281 s of tests on 2 cores, measured on a fresh clone (347 s with the install)
PYTEST_ARGS ?= -n auto --dist worksteal

.PHONY: venv install install-test install-docs demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

venv: $(VENV)/.installed
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-docs: $(VENV)/.installed-docs

demo: $(VENV)/.installed
	$(BIN)/flowstats demo -o $(DEMO_OUT) --force

lint: $(VENV)/.installed-test
	$(BIN)/ruff check flowstats tests benchmarks analyses

test: $(VENV)/.installed-test
	$(BIN)/ruff check flowstats tests benchmarks analyses
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the documentation site in docs/_build/html; strict: any warning (a broken link, a missing
# reference, a tutorial cell that raises) fails the build. The tutorials execute on every build.
docs: $(VENV)/.installed-docs
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -n -b html docs docs/_build/html

bench: $(VENV)/.installed
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache docs/_build
