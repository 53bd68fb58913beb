# lp_jax developer entry points. Every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Every install is held to constraints.txt: the exact versions the whole test suite passed with.
# `make lock` re-resolves them on purpose (LOCKING=1 installs without the file).
CONSTRAINTS := $(if $(LOCKING),,-c constraints.txt)
PIP := -m pip install -q $(CONSTRAINTS)
INSTALL_HASH := $(shell cat setup.py constraints.txt 2>/dev/null | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-test-$(INSTALL_HASH)
BASE_STAMP := $(VENV)/.installed-base-$(INSTALL_HASH)
# Which tests cost the time: every pytest call prints its 30 slowest.
PYTEST := -m pytest -q -rs --durations=30

.PHONY: test test-fast test-tables bench demo train-demo train-demo-stage2 lock chromium clean

$(BASE_STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP) --upgrade pip setuptools
	$(PY) $(PIP) -e .
	rm -f $(VENV)/.installed-base-* && touch $@

$(STAMP): $(BASE_STAMP)
	$(PY) $(PIP) -e '.[test,app,official]'
	rm -f $(VENV)/.installed-test-* && touch $@

# The AOT extras (tpu: libtpu, gpu-aot: the CUDA compiler plugin) live in their own environment:
# once installed, the CUDA plugin prints a driver notice on stderr in every process that starts
# JAX on a machine without a GPU, which the one-line-error tests of everything else would see.
AOT_VENV := .venv-aot
AOT_PY := $(AOT_VENV)/bin/python
AOT_STAMP := $(AOT_VENV)/.installed-aot-$(INSTALL_HASH)
$(AOT_STAMP): setup.py constraints.txt
	test -x $(AOT_PY) || $(PYTHON) -m venv $(AOT_VENV)
	$(AOT_PY) $(PIP) --upgrade pip setuptools
	$(AOT_PY) $(PIP) -e '.[tpu,gpu-aot]' pytest
	rm -f $(AOT_VENV)/.installed-aot-* && touch $@

demo: $(BASE_STAMP)
	$(PY) -m lp_jax.demo

# Stage I from scratch on the real clips and photos of ../shared/assets (configs/train_demo.py,
# about an hour on a 2-core CPU; a rerun resumes), then the evaluation on the held-out clips
# against copy-the-source and no motion, a grid and the learning curve.
TRAIN_DEMO := runs/train-demo
train-demo: $(BASE_STAMP)
	$(PY) train.py --config configs/train_demo.py --workdir $(TRAIN_DEMO)
	$(PY) -m lp_jax.train_demo_report --workdir $(TRAIN_DEMO)

# Stage II (stitching, eye and lip retargeting) on the train-demo Stage I run (minutes).
train-demo-stage2: $(BASE_STAMP)
	$(PY) train.py --config configs/train_demo.py:stage2 --workdir $(TRAIN_DEMO)-stage2
	$(PY) -m lp_jax.training.stage2_eval --workdir $(TRAIN_DEMO)-stage2

# The web-app browser test drives Debian's chromium through Playwright (never a downloaded one).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "make test: /usr/bin/chromium is missing; install Debian's chromium (sudo apt-get install chromium) for the web-app browser test" >&2; \
	    exit 1; \
	  fi; }

# Training tests run in their own processes: one pytest process holding every earlier module's
# compiled executables and fixtures outgrows a 24 GiB machine. One persistent compilation cache
# serves the test processes and every subprocess they start.
export LP_JAX_TEST_COMPILATION_CACHE ?= $(CURDIR)/.cache/test-compilation
# The golden recipe's synthetic official checkpoints, written once and copied (tests/conftest.py).
export LP_JAX_TEST_OFFICIAL_CACHE ?= $(CURDIR)/.cache/test-official
# The other tests run in two processes, whole files per process (pytest-xdist): compiling is
# single-threaded, so one process leaves a core idle most of the time. Files go out costliest
# first (tests/conftest.py COSTLY_FILES), so neither process ends the run alone.
# The training and objective tests (Stage II's landmark-model measure included) run micro
# networks, where XLA:CPU's LLVM passes cost more than the steps they speed up: at optimization
# level 0 the four long training tests took 134 / 83 / 61 / 50 s instead of 195 / 150 / 105 /
# 94 s. They test mechanics (bit-exact resume, one vs eight devices, processes, every loss term
# compiled and differentiated) under one setting, never speed or parity. Every other test runs
# with XLA's defaults, as users do (level 0 made the inference tests slower: test_infer 182 ->
# 230 s).
FAST_COMPILE := --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true
test: $(STAMP) $(AOT_STAMP) chromium
	$(PY) $(PYTEST) -n 2 --dist loadfile --no-loadscope-reorder --ignore=tests/test_training.py \
	  --ignore=tests/test_losses.py --ignore=tests/test_stage2_landmarks.py --ignore=tests/test_aot.py
	XLA_FLAGS="$(FAST_COMPILE)" $(PY) $(PYTEST) -n 2 tests/test_training.py tests/test_losses.py \
	  tests/test_stage2_landmarks.py
	$(AOT_PY) $(PYTEST) tests/test_aot.py tests/test_environment.py

test-fast: $(STAMP)
	$(PY) $(PYTEST) -m "not slow" --ignore=tests/test_aot.py

# Full-size measurements that print tables rather than guard behaviour (opt-in marker `table`).
test-tables: $(STAMP)
	$(PY) $(PYTEST) -m table --run-tables

# Re-resolves every dependency to its newest release (jax stays at setup.py's JAX_VERSION), writes
# the versions both environments hold to constraints.txt, then runs every test on them.
lock:
	rm -rf $(VENV) $(AOT_VENV)
	$(MAKE) LOCKING=1 $(VENV)/.locked $(AOT_VENV)/.locked
	{ echo "# Exact versions the tests passed with (make lock writes this file; make test checks it)."; \
	  { $(PY) -m pip freeze --all --exclude-editable; \
	    $(AOT_PY) -m pip freeze --all --exclude-editable; } | LC_ALL=C sort -u; } > constraints.txt.new
	@dups=$$(grep -v '^#' constraints.txt.new | cut -d= -f1 | tr A-Z a-z | LC_ALL=C sort | uniq -d); \
	  if [ -n "$$dups" ]; then echo "make lock: the two environments disagree on: $$dups" >&2; \
	  rm -f constraints.txt.new; exit 1; fi
	mv constraints.txt.new constraints.txt
	$(MAKE) test

$(VENV)/.locked:
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP) --upgrade pip setuptools
	$(PY) $(PIP) -e '.[test,app,official]'
	touch $@

$(AOT_VENV)/.locked:
	$(PYTHON) -m venv $(AOT_VENV)
	$(AOT_PY) $(PIP) --upgrade pip setuptools
	$(AOT_PY) $(PIP) -e '.[tpu,gpu-aot]' pytest
	touch $@

# `make bench OFFICIAL=DIR` times the official code from checkout DIR side by side with ours
# (needs `pip install -e '.[official]'`); without it, our networks alone.
bench: $(BASE_STAMP)
	$(PY) -m lp_jax.bench $(if $(OFFICIAL),--official $(OFFICIAL))

clean:
	rm -rf $(VENV) $(AOT_VENV) build *.egg-info .cache/test-compilation .cache/test-official
