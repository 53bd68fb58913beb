# lp_jax developer entry points. Every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SETUP_HASH := $(shell sha256sum setup.py | cut -c1-12)
STAMP := $(VENV)/.installed-test-$(SETUP_HASH)
BASE_STAMP := $(VENV)/.installed-base-$(SETUP_HASH)

.PHONY: test test-fast bench demo clean

$(BASE_STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	rm -f $(VENV)/.installed-base-* && touch $@

$(STAMP): $(BASE_STAMP)
	$(PY) -m pip install -q -e '.[test,app]'
	rm -f $(VENV)/.installed-test-* && touch $@

# The AOT extras (tpu: libtpu, gpu-aot: the CUDA compiler plugin) live in their own environment:
# once installed, the CUDA plugin prints a driver notice on stderr in every process that starts
# JAX on a machine without a GPU, which the one-line-error tests of everything else would see.
AOT_VENV := .venv-aot
AOT_PY := $(AOT_VENV)/bin/python
AOT_STAMP := $(AOT_VENV)/.installed-aot-$(SETUP_HASH)
$(AOT_STAMP): setup.py
	test -x $(AOT_PY) || $(PYTHON) -m venv $(AOT_VENV)
	$(AOT_PY) -m pip install -q --upgrade pip
	$(AOT_PY) -m pip install -q -e '.[tpu,gpu-aot]' pytest
	rm -f $(AOT_VENV)/.installed-aot-* && touch $@

demo: $(BASE_STAMP)
	$(PY) -m lp_jax.demo

# Training tests run in their own process: one pytest process holding every earlier module's
# compiled executables and fixtures outgrows a 24 GiB machine.
test: $(STAMP) $(AOT_STAMP)
	$(PY) -m pytest -q -rs --ignore=tests/test_training.py --ignore=tests/test_aot.py
	$(PY) -m pytest -q -rs tests/test_training.py
	$(AOT_PY) -m pytest -q -rs tests/test_aot.py

test-fast: $(STAMP)
	$(PY) -m pytest -q -rs -m "not slow" --ignore=tests/test_aot.py

# `make bench OFFICIAL=DIR` times the official code from checkout DIR side by side with ours
# (needs `pip install -e '.[official]'`); without it, our networks alone.
bench: $(BASE_STAMP)
	$(PY) -m lp_jax.bench $(if $(OFFICIAL),--official $(OFFICIAL))

clean:
	rm -rf $(VENV) $(AOT_VENV) build *.egg-info
