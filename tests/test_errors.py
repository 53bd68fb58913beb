# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The user-error family: a bad input is one line and exit status 1, a bug keeps its traceback.

Every command catches lp_jax.errors.UserError alone, so a ValueError or TypeError from deep in
the code (a shape bug) must reach the caller as an exception, never as "error: ...".
"""

import logging

import ml_collections
import pytest
from conftest import run_in_process

import convert_weights.__main__ as convert_cli
from lp_jax import errors
from lp_jax import eval as eval_cli
from lp_jax.aot.targets import AotError
from lp_jax.bench import machine
from lp_jax.bench import __main__ as bench_cli
from lp_jax.bench.official import OfficialError
from lp_jax.data.index import DataError
from lp_jax.inference import run as infer_run
from lp_jax.io.errors import MediaError
from lp_jax.motion_template.errors import TemplateError
from lp_jax.training import export_workdir, stage2_eval, stages, workdir_config
from lp_jax.training.errors import ConfigError
from lp_jax.weights import official
from lp_jax.weights.errors import CheckpointError, ConversionError

SHAPE_BUG = "operands could not be broadcast together with shapes (2,3) (4,)"


def _bug(*args, **kwargs):
  raise ValueError(SHAPE_BUG)


def test_every_module_error_is_a_user_error_and_keeps_its_old_base():
  for cls in (MediaError, TemplateError, CheckpointError, ConversionError, ConfigError,
              DataError, eval_cli.EvalError, AotError, OfficialError):
    assert issubclass(cls, errors.UserError), cls
  for cls in (MediaError, TemplateError, CheckpointError, ConfigError, DataError,
              errors.InputError):
    assert issubclass(cls, ValueError), cls  # callers that caught ValueError still do
  assert issubclass(errors.MissingFileError, FileNotFoundError)
  assert not issubclass(errors.UserError, ValueError)


def test_first_line():
  assert errors.first_line(ValueError("\n  first\nsecond")) == "first"
  assert errors.first_line(KeyError()) == "KeyError"
  assert errors.first_line(ValueError("  \n ")) == "ValueError"


def test_config_variant_names_the_variant_as_a_user_error():
  def get_config(arg):
    raise ValueError(f"unknown model config variant {arg!r}")
  with pytest.raises(errors.InputError, match="variant 'huge'"):
    errors.config_variant(get_config, "huge")


def test_training_configuration_errors_are_user_errors():
  with pytest.raises(ConfigError, match="config.stage must be 1 or 2, got 3"):
    stages.for_config(ml_collections.ConfigDict({"stage": 3}))


def _infer_main(tmp_path):
  """infer.py on a driving file that exists (classified by its name; never read)."""
  drv = tmp_path / "d.mp4"
  drv.write_bytes(b"")
  flags = ["-d", drv, "-o", tmp_path / "out", "-w", tmp_path / "no_weights", "--no_flag_do_crop"]
  return lambda argv: infer_run.run([*argv, *map(str, flags)])


def _commands(tmp_path):
  """(main, argv of a bad input, words of its line, argv that gets past the input checks,
  (module, name) of a function deep in the command that a bug makes raise)."""
  source = tmp_path / "s.jpg"
  source.write_bytes(b"")
  workdir = str(tmp_path / "not_a_run")
  return {
      "infer": (_infer_main(tmp_path), ["-s", tmp_path / "missing.jpg"],
                "missing.jpg: no such file", ["-s", source], (infer_run.assets, "resolve")),
      "convert_weights": (convert_cli.main, ["--src", tmp_path / "absent", "--dst",
                                             tmp_path / "dst"], "absent: not a directory",
                          None, (official, "convert_official")),
      "eval": (eval_cli.main, ["--workdir", workdir], "no config.json", None,
               (eval_cli, "load_config")),
      "export_workdir": (export_workdir.main, ["--workdir", workdir, "--dst", tmp_path / "x"],
                         "no config.json", None, (export_workdir, "load_config")),
      "stage2_eval": (stage2_eval.main, ["--workdir", workdir], "no config.json", None,
                      (workdir_config, "load_config")),
      "bench": (bench_cli.main, ["--threads", "100000"], "--threads 100000", None,
                (machine, "pin_threads")),
  }


@pytest.mark.parametrize("name", ["infer", "convert_weights", "eval", "export_workdir",
                                  "stage2_eval", "bench"])
def test_bad_input_is_one_line_and_a_bug_keeps_its_traceback(name, tmp_path, monkeypatch):
  main, argv, words, past_checks, (module, function) = _commands(tmp_path)[name]
  proc = run_in_process(main, argv)
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 1, proc.stderr
  assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines

  monkeypatch.setattr(module, function, _bug)
  with pytest.raises(ValueError, match="could not be broadcast"):
    run_in_process(main, past_checks or argv)


def test_app_shows_a_user_error_as_its_line_and_a_bug_as_a_failure(caplog):
  pytest.importorskip("gradio")
  import gradio as gr  # pylint: disable=g-import-not-at-top  (optional: the app's extra)
  from lp_jax.app import actions as actions_lib  # pylint: disable=g-import-not-at-top  (gradio)

  actions = actions_lib.Actions.__new__(actions_lib.Actions)  # _guard needs no engine
  actions.timings = []

  def bad_input():
    raise MediaError("/srv/uploads/x/clip.mp4: the video has no frames")
  with pytest.raises(gr.Error) as err:
    actions._guard("animation", bad_input)  # pylint: disable=protected-access
  assert err.value.message == "clip.mp4: the video has no frames"  # no server paths

  with caplog.at_level(logging.ERROR), pytest.raises(gr.Error) as err:
    actions._guard("animation", _bug)  # pylint: disable=protected-access
  assert err.value.message == f"animation failed: {SHAPE_BUG}"
  assert "Traceback" in caplog.text  # the bug is logged with its traceback
