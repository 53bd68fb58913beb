# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Test setup: 8 fake CPU devices, full float32 matmuls, and the golden / synthetic weights."""

import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile

# Before JAX initialises: a real multi-device mesh on CPU, and no accelerator.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Converted weights and compiled programs of in-process runs go to a per-session cache, never to
# the user's ~/.cache/lp_jax.
os.environ.setdefault("LP_JAX_CACHE", tempfile.mkdtemp(prefix="lp_jax_test_cache_"))
# One persistent XLA compilation cache for the test process and every subprocess it starts
# (infer.py, train.py, the demo, the app server inherit it): the same tiny programs compile once.
# `make test` keeps it in .cache/test-compilation, so the next run starts warm.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.environ.get("LP_JAX_TEST_COMPILATION_CACHE")
                      or tempfile.mkdtemp(prefix="lp_jax_test_xla_"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import lp_jax  # noqa: E402,F401  (its XLA:CPU options, before any test starts the backend)
import pytest  # noqa: E402
from lp_jax import shared  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = shared.SHARED
GOLDEN_DIR = os.path.join(SHARED, "golden")


def load_golden(env: str, default_name: str, what: str = "golden") -> dict:
  """The golden npz named by the environment variable `env` (default ../shared/golden/
  `default_name`) as {key: array}. A missing golden fails: parity is never silently skipped."""
  path = os.path.abspath(os.environ.get(env, os.path.join(GOLDEN_DIR, default_name)))
  if not os.path.exists(path):
    pytest.fail(f"{what} {path} not found (set {env} or put ../shared beside the repo)")
  with np.load(path) as g:
    return {k: g[k] for k in g.files}


def run_in_process(main, argv) -> subprocess.CompletedProcess:
  """A command's `main(argv)` run in this process and reported as subprocess.run would (exit
  code, stdout, stderr), for tests where a real process's own behaviour is not the point: no
  interpreter start or imports, and the compiled programs stay in this process's caches."""
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      code = main(list(map(str, argv)))
    except SystemExit as e:  # argparse's usage errors
      code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def recipe():
  """The golden folder's recipe module (writes official-format checkpoints; needs torch)."""
  if GOLDEN_DIR not in sys.path:
    sys.path.insert(0, GOLDEN_DIR)
  import recipe as recipe_module  # pylint: disable=g-import-not-at-top
  return recipe_module


# The recipe's official folders (~500 MB, 20-40 s of torch.save each) are written once per
# (recipe, torch, seed, layout) and copied from here: `make test` shares .cache/test-official
# between its processes and runs, so the session fixtures of two pytest-xdist workers and the
# tests that write the same folder do not each serialise it again.
OFFICIAL_CACHE = (os.environ.get("LP_JAX_TEST_OFFICIAL_CACHE") or
                  tempfile.mkdtemp(prefix="lp_jax_test_official_"))


def write_official(root: str, seed: int = 0, module_prefix: bool = True) -> str:
  """The golden recipe's official checkpoints for `seed` in the official layout under root."""
  torch = pytest.importorskip("torch")
  module = recipe()
  with open(module.__file__, "rb") as f:
    digest = hashlib.sha256(f.read() + torch.__version__.encode()).hexdigest()[:16]
  cached = os.path.join(OFFICIAL_CACHE, f"{digest}-seed{seed}-prefix{int(module_prefix)}")
  os.makedirs(OFFICIAL_CACHE, exist_ok=True)
  with open(cached + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # one writer; the other processes wait, then copy
    if not os.path.isdir(cached):
      partial = cached + ".partial"
      shutil.rmtree(partial, ignore_errors=True)
      module.write_official_checkpoints(partial, seed=seed, module_prefix=module_prefix)
      os.rename(partial, cached)
  shutil.copytree(cached, root, dirs_exist_ok=True)
  return root


def run_converter(*args, block_torch: bool = False) -> subprocess.CompletedProcess:
  """`python -m convert_weights ...` as a user runs it; optionally with torch unimportable."""
  if block_torch:  # sys.modules[name] = None makes every `import torch` fail
    cmd = [sys.executable, "-c", "import runpy, sys; sys.modules['torch'] = None; "
           "sys.argv[0] = 'convert_weights'; runpy.run_module('convert_weights', "
           "run_name='__main__')", *args]
  else:
    cmd = [sys.executable, "-m", "convert_weights", *args]
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@pytest.fixture(scope="session")
def golden():
  """The networks' golden (official outputs on synthetic official-layout weights)."""
  return load_golden("LP_GOLDEN", "public_seed0.npz")


@pytest.fixture(scope="session")
def pipeline_golden():
  """The host-side pre/post-processing golden (crops, ratios, smoothing, paste-back)."""
  return load_golden("LP_PIPELINE_GOLDEN", "pipeline_seed0.npz", "pipeline golden")


@pytest.fixture(scope="session")
def converted_golden_weights(golden, tmp_path_factory):
  """The golden's official checkpoints, converted by the CLI without torch: (official, orbax)."""
  official = tmp_path_factory.mktemp("official")
  write_official(str(official), int(golden["meta/seed"]), bool(golden["meta/module_prefix"]))
  orbax_dir = tmp_path_factory.mktemp("converted") / "lp_jax"
  proc = run_converter("--src", str(official), "--dst", str(orbax_dir), block_torch=True)
  assert proc.returncode == 0, proc.stderr
  return str(official), str(orbax_dir)


@pytest.fixture
def report_table(record_property):
  """report_table(text): a measured table, printed in the run's summary ("measured tables").
  Through the test report rather than stdout, so it shows under pytest-xdist too."""
  return lambda text: record_property("table", text)


def pytest_terminal_summary(terminalreporter):
  _file_durations(terminalreporter)
  reports = [r for kind in ("passed", "failed") for r in terminalreporter.stats.get(kind, [])
             if getattr(r, "when", None) == "call"]
  tables = [text for r in reports for key, text in r.user_properties if key == "table"]
  if tables:
    terminalreporter.section("measured tables")
    for text in tables:
      terminalreporter.write_line(text.strip("\n") + "\n")


def _file_durations(terminalreporter, top: int = 15):
  """Seconds per test file (setup + call + teardown of its tests), costliest first: what to
  cut when the suite outgrows its budget, and the order COSTLY_FILES should follow."""
  per_file = {}
  for reports in terminalreporter.stats.values():
    for r in reports:
      if isinstance(r, pytest.TestReport):
        name = r.nodeid.split("::", 1)[0]
        per_file[name] = per_file.get(name, 0.0) + r.duration
  if per_file:
    terminalreporter.section("seconds per file")
    for name, secs in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
      terminalreporter.write_line(f"{secs:8.1f}s {name}")


def pytest_addoption(parser):
  parser.addoption("--run-tables", action="store_true",
                   help="run the full-size measurement tables (marker `table`; make test-tables)")


# The files that cost the most (seconds of one CPU worker, fresh cache, measured 2026-12-06),
# most first. `make test` runs two pytest-xdist workers with `--dist loadfile
# --no-loadscope-reorder`: handing out the longest files first keeps both workers busy until the
# end, where xdist's own order (most tests first) left one 150 s file running alone at the end.
# The training call (test_training, test_losses) and the main call each follow this order.
COSTLY_FILES = ("test_training.py", "test_losses.py",
                "test_e2e_parity.py", "test_train_demo.py", "test_cli.py", "test_convert.py",
                "test_eval_cli.py", "test_parity.py", "test_app.py", "test_decoder.py",
                "test_bench_official.py", "test_entry_points.py", "test_infer.py",
                "test_kernels.py")


def _run_order(item) -> int:
  name = os.path.basename(str(item.path))
  return COSTLY_FILES.index(name) if name in COSTLY_FILES else len(COSTLY_FILES)


def pytest_collection_modifyitems(config, items):
  """Costly files first (a stable sort: each file keeps its tests' order); tables measure
  rather than guard, so they run only when asked for."""
  items.sort(key=_run_order)
  if config.getoption("--run-tables"):
    return
  skip = pytest.mark.skip(reason="a full-size measurement table: `make test-tables` runs it")
  for item in items:
    if "table" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Drops every module's jitted executables and dead arrays when it ends (bounded memory)."""
  yield
  import gc  # pylint: disable=g-import-not-at-top
  jax.clear_caches()
  gc.collect()


@pytest.fixture(autouse=True)
def _release_after_heavy_tests(request):
  """Training tests each build whole models: free their executables after every test."""
  yield
  if request.module.__name__.endswith("test_training"):
    import gc  # pylint: disable=g-import-not-at-top
    jax.clear_caches()
    gc.collect()
