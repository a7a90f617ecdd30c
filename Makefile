# jaxlab: two commands on a fresh machine.
#   make demo   set up .venv, install, run the default sweep (scikit-learn's digits, no download)
#   make test   set up if needed, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxlab sweep experiments/sweeps/demo.toml --out runs/demo
	@echo "results in runs/demo (history.csv, variants.csv, spec.toml, params.npz)"

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup

test-slow: $(STAMP)
	JAXLAB_SLOW=1 $(PY) -m pytest -q -n 2 --dist loadgroup -m slow

bench: $(STAMP)
	for b in batch_size mnist_shaped logging_overhead scaling sharding halving many_variants keras_compare; do $(PY) benchmarks/$$b.py || exit 1; done

docs: $(STAMP)
	$(PY) docs/build_api.py docs/api

lint: $(STAMP)
	$(VENV)/bin/ruff check jaxlab tests benchmarks notebooks

clean:
	rm -rf $(VENV) runs .pytest_cache
