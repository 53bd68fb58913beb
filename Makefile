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

# The AOT extras (tpu: libtpu, gpu-aot: the CUDA compiler plugin) let the tests compile for
# TPUs and GPUs.
$(STAMP): $(BASE_STAMP)
	$(PY) -m pip install -q -e '.[test,app,tpu,gpu-aot]'
	rm -f $(VENV)/.installed-test-* && touch $@

demo: $(BASE_STAMP)
	$(PY) -m lp_jax.demo

# Training tests run in their own process: one pytest process holding every earlier module's
# compiled executables and fixtures outgrows a 24 GiB machine.
test: $(STAMP)
	$(PY) -m pytest -q -rs --ignore=tests/test_training.py
	$(PY) -m pytest -q -rs tests/test_training.py

test-fast: $(STAMP)
	$(PY) -m pytest -q -rs -m "not slow"

bench: $(BASE_STAMP)
	$(PY) -m lp_jax.bench

clean:
	rm -rf $(VENV) build *.egg-info
