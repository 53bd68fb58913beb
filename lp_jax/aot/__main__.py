# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Compile lp_jax's programs ahead of time for a named TPU slice or GPU, on this CPU machine.

  python -m lp_jax.aot --target v5e-256 --job stage1 --config configs/stage1.py \
      --per_device_batch 1 --config.mixed_precision=True
  python -m lp_jax.aot --target H100 --job infer --batch_sizes 1,8,32 --precision fp16
  python -m lp_jax.aot --target v5e-1 --job warp --kernel_form separable_sparse_motion=false
  python -m lp_jax.aot --target v5p-128 --job stage1 --config configs/stage1.py --max_batch
  python -m lp_jax.aot --target H100 --job faces --batch_sizes 1,8 --face_models pretrained_weights
  python -m lp_jax.aot --list_targets

Prints one JSON line per compiled program (per-device memory against the chip's, FLOPs and
bytes per step, collectives by kind, compile seconds, a roofline estimate); see lp_jax/aot.
Needs `pip install -e '.[tpu]'` for TPU targets and `pip install -e '.[gpu-aot]'` for GPUs.
Exit status 1 with one line on stderr for bad input, and after the memory report for a program
that does not fit.
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # compile-only devices; never touch a local GPU
# Compile-only use of libtpu: several processes may load it at once (no TPU is claimed).
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from lp_jax import errors  # noqa: E402
from lp_jax.aot import jobs, report, targets  # noqa: E402
from lp_jax.aot.targets import AotError  # noqa: E402
from lp_jax.shared import SHARED  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("target", None, "named target (--list_targets)")
flags.DEFINE_enum("job", "infer", ["stage1", "stage2", "infer", "warp", "faces", "frames"],
                  "which program to compile (warp: W of infer's W+G alone; faces: the three "
                  "ONNX face models as JAX functions; frames: the paste-back and driving crops "
                  "of --frame_ops device)")
config_flags.DEFINE_config_file("config", None, "training config (stage1 / stage2 jobs), with "
                                "--config.<field>=value overrides exactly as train.py takes them",
                                lock_config=True)
flags.DEFINE_string("mesh", None, "training mesh override, e.g. data=-1,fsdp=4 (default: "
                    "config.mesh)")
flags.DEFINE_integer("per_device_batch", None, "training: samples per batch shard (default: "
                     "config.batch_size / shards)")
flags.DEFINE_string("batch_sizes", "1", "infer: comma-separated frames per device")
flags.DEFINE_string("precision", None, "infer: fp32 | bf16 | fp16, or a comma list (default: "
                    "fp16 on GPU, bf16 on TPU, as --flag_use_half_precision)")
flags.DEFINE_string("face_models", os.path.join(SHARED, "golden", "detectors_seed0"),
                    "faces: folder of det_10g.onnx, 2d106det.onnx and landmark.onnx (flat, or "
                    "a pretrained_weights/ folder)")
flags.DEFINE_string("model_config", "official", "infer: configs/models.py variant")
flags.DEFINE_string("frame_size", "1280x720", "frames: the source / driving frame, WxH")
flags.DEFINE_bool("max_batch", False, "find the largest per-device batch that fits")
flags.DEFINE_integer("max_batch_limit", 1024, "upper bound of the --max_batch search")
flags.DEFINE_integer("max_batch_start", 1, "first batch of the --max_batch search (one near "
                     "the edge, e.g. a batch known to fit, saves compiles)")
flags.DEFINE_bool("list_targets", False, "print the named targets and exit")
flags.DEFINE_multi_string("kernel_form", [], "infer / warp: a KernelForms field replacing the "
                          "target's, name=value (repeatable), e.g. "
                          "separable_sparse_motion=false")
flags.DEFINE_multi_string("compiler_option", [], "XLA option for the compile, name=value "
                          "(repeatable), e.g. xla_gpu_enable_triton_gemm=false")


def compiler_options(pairs, flag: str = "--compiler_option") -> dict:
  """['name=value', ...] -> {name: bool / int / float / str}."""
  out = {}
  for pair in pairs:
    name, sep, value = pair.partition("=")
    if not sep or not name:
      raise AotError(f"{flag} {pair!r}: expected name=value")
    low = value.lower()
    if low in ("true", "false"):
      out[name] = low == "true"
    else:
      try:
        out[name] = int(value)
      except ValueError:
        try:
          out[name] = float(value)
        except ValueError:
          out[name] = value
  return out


def emit(record: dict) -> None:
  print(json.dumps(record), flush=True)


def fail(message: str) -> int:
  return errors.report(AotError(message))


def run() -> int:
  """The command; returns the exit status."""
  if FLAGS.list_targets:
    print(targets.target_table())
    return 0
  if not FLAGS.target:
    return fail(f"--target is required; known targets: {', '.join(targets.TARGETS)}")
  try:
    target = targets.get_target(FLAGS.target)
    options = compiler_options(FLAGS.compiler_option)
    if FLAGS.job in ("faces", "frames"):
      if FLAGS.precision not in (None, "fp32"):
        raise AotError(f"--job {FLAGS.job} --precision {FLAGS.precision}: this job compiles "
                       "in fp32 (the ONNX graphs' precision; the frame ops' OpenCV arithmetic)")
      batches = [int(b) for b in FLAGS.batch_sizes.split(",")]
    elif FLAGS.job in ("infer", "warp"):
      overrides = jobs.forms_overrides(compiler_options(FLAGS.kernel_form, "--kernel_form"))
      precisions = (FLAGS.precision or jobs.default_precision(target.platform)).split(",")
      for p in precisions:
        if p not in jobs.PRECISIONS:
          raise targets.AotError(f"--precision {p!r}: expected fp32, bf16 or fp16")
      batches = [int(b) for b in FLAGS.batch_sizes.split(",")]
    else:
      config = FLAGS.config
      if config is None:
        raise targets.AotError(f"--job {FLAGS.job} needs --config configs/stage"
                               f"{FLAGS.job[-1]}.py (optionally :tiny)")
      if config.stage != int(FLAGS.job[-1]):
        raise targets.AotError(f"--job {FLAGS.job} with a Stage {config.stage} config")
      if FLAGS.mesh:
        with config.unlocked():
          config.mesh = jobs.parse_mesh(FLAGS.mesh)
      batches = [FLAGS.per_device_batch]
    devices = targets.devices(target)
    if FLAGS.job in ("faces", "frames"):
      status = 0
      for b in batches:
        programs = (jobs.face_programs(FLAGS.face_models, devices, b) if FLAGS.job == "faces"
                    else jobs.frame_programs(devices, b, frame_size(FLAGS.frame_size)))
        for program in programs:
          try:
            emit(report.compile_program(program, target, FLAGS.job, options))
          except report.DoesNotFit as e:
            emit(e.record)
            status = errors.report(e)
      return status
    if FLAGS.job in ("infer", "warp"):
      builders = [lambda b, p=p: jobs.infer_program(target, devices, b, p, FLAGS.model_config,
                                                    FLAGS.job == "warp", overrides)
                  for p in precisions]
    else:
      builders = [lambda b: jobs.training_program(config, target, devices, b)]
    show = emit
    if FLAGS.job in ("infer", "warp") and overrides:  # the record names the replaced forms
      show = lambda record: emit({**record, "kernel_form": overrides})
    status = 0
    for build in builders:
      if FLAGS.max_batch:
        show(report.max_batch(build, target, FLAGS.job, FLAGS.max_batch_limit, emit=show,
                              compiler_options=options, start=FLAGS.max_batch_start))
        continue
      for b in batches:
        try:
          show(report.compile_program(build(b), target, FLAGS.job, options))
        except report.DoesNotFit as e:
          show(e.record)
          status = errors.report(e)
    return status
  except errors.UserError as e:  # AotError, a bad --config value; anything else is a bug
    return errors.report(e)


def frame_size(text: str) -> tuple[int, int]:
  """'1280x720' -> (1280, 720)."""
  width, _, height = text.lower().partition("x")
  if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
    raise AotError(f"--frame_size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
  return int(width), int(height)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  sys.exit(run())


if __name__ == "__main__":
  app.run(main)
