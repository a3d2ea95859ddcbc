# Two commands on a fresh machine:  `make demo`  and  `make test`.
# `make demo` (re-runnable: it replaces its own output folder) uses its own small environment (.venv-run: requirements-runtime.txt only);
# `make test` and the other targets use the development environment (.venv).
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
RUN_VENV ?= .venv-run
RUN_BIN := $(RUN_VENV)/bin
OUT     ?= collapsekit-demo

.PHONY: venv demo test test-fast lint bench example lm-example clean

$(BIN)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

venv: $(BIN)/.installed

$(RUN_BIN)/.installed: requirements-runtime.txt pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_BIN)/python -m pip install -q --upgrade pip
	$(RUN_BIN)/python -m pip install -q -r requirements-runtime.txt
	$(RUN_BIN)/python -m pip install -q --no-deps -e .
	touch $@

demo: $(RUN_BIN)/.installed
	$(RUN_BIN)/collapsekit demo --out $(OUT) --force  # its own folder: replaced on every run

# every test once, the slow (full-demo) one included, on two workers with one thread each;
# worksteal lets the other worker take the fast tests while the slow one runs
test: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal -q

# the quick loop while developing: everything but the tests marked slow
test-fast: venv
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal -q -m "not slow"

lint: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m pip install -q -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run_all.py

example: venv
	$(BIN)/python -m pip install -q -r examples/requirements.txt
	HF_HUB_OFFLINE=1 $(BIN)/python examples/text_embeddings.py --out example-out

# neural collapse in a small causal language model (tokenizers is in the dev requirements)
lm-example: venv
	$(BIN)/python examples/linguistic_collapse.py --out lm-example-out

clean:
	rm -rf $(VENV) $(RUN_VENV) $(OUT) lm-example-out dist .pytest_cache .mypy_cache .ruff_cache
