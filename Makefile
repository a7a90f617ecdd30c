# jaxlab: two commands on a fresh machine.
#   make demo   set up .venv, install, run the default sweep (scikit-learn's digits, no download)
#   make test   set up if needed, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench bench-peers lint docs clean

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
	for b in batch_size mnist_shaped logging_overhead scaling dispatch sharding halving many_variants keras_compare; do $(PY) benchmarks/$$b.py || exit 1; done

# Side by side with the peers in ../shared/peers (Keras 3 on JAX, Flax loops, a hand-written
# vmap), whole processes, 3 interleaved rounds; keras comes from the "bench" extra.
PEERS  := $(abspath ../shared/peers)
bench-peers: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	cd $(PEERS) && JAXLAB_PY=$(abspath $(PY)) PEERS_PY=$(abspath $(PY)) $(abspath $(PY)) bench.py w1 \
		--rounds 3 --peers w1_keras w1_flax_scan w1_jaxlab w1_jaxlab_warm --ref w1_flax_scan
	cd $(PEERS) && JAXLAB_PY=$(abspath $(PY)) PEERS_PY=$(abspath $(PY)) $(abspath $(PY)) bench.py w2 \
		--rounds 3 --peers w2_keras w2_jax_vmap w2_jaxlab --ref w2_jax_vmap

docs: $(STAMP)
	$(PY) docs/build_api.py docs/api

lint: $(STAMP)
	$(VENV)/bin/ruff check jaxlab tests benchmarks notebooks

clean:
	rm -rf $(VENV) runs .pytest_cache
