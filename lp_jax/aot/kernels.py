# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The figures behind models/kernels.py's per-backend layer forms, compiled ahead of time.

  python -m lp_jax.aot.kernels                       # H100 and v5e-1, fp32 and half precision
  python -m lp_jax.aot.kernels --targets H100 --precisions fp16 --forms depthwise_stencil

  python -m lp_jax.aot.kernels --records figures.jsonl  # verdicts of saved lines, no compile

One JSON line per (form, shape, target, precision): FLOPs, bytes accessed, temp bytes and the
roofline seconds of the CPU rewrite and of the plain form, and the table's value of the field;
then one 'verdict' line per (form, target): the value the rule of lp_jax.aot.kernel_forms
gives, the table's (models/kernels.py) and whether they agree. Needs the AOT extras
(`pip install -e '.[tpu,gpu-aot]'`).
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # compile-only devices; never touch a local GPU
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

from absl import app, flags  # noqa: E402

from lp_jax import errors  # noqa: E402
from lp_jax.aot import jobs, kernel_forms, targets  # noqa: E402
from lp_jax.models import variants as model_configs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("targets", ["H100", "v5e-1"], "named targets (one device of each is used)")
flags.DEFINE_list("precisions", ["fp32", "half"], "fp32 | bf16 | fp16 | half (the target's: "
                  "fp16 on GPU, bf16 on TPU)")
flags.DEFINE_list("forms", [], "KernelForms fields to measure (default: all)")
flags.DEFINE_integer("generator_batch", 4, "frames per W+G batch for generator_chunk")
flags.DEFINE_string("records", None, "a file of this command's JSON lines: print the verdicts "
                    "of its records against the current table, compile nothing")


def verdicts(records: list) -> None:
  """One 'verdict' line per (target, form) of `records`."""
  groups = {}
  for rec in records:
    groups.setdefault((rec["target"], rec["form"]), []).append(rec)
  for (target, form), group in list(groups.items()):
    if form == "conv3d_fold_min_hw" and all("output_channels" in r for r in group):
      groups[(target, "conv3d_fold_max_out")] = kernel_forms.as_max_out(group)
  for (target, form), group in groups.items():
    print(json.dumps({"event": "verdict", "form": form, "target": target,
                      **kernel_forms.verdict(group)}), flush=True)


def run() -> int:
  if FLAGS.records:
    with open(FLAGS.records) as f:
      verdicts([r for r in map(json.loads, f) if "event" not in r])
    return 0
  try:
    chosen = [targets.get_target(t) for t in FLAGS.targets]
    for target in chosen:
      device = targets.devices(target)[0]
      precisions = [jobs.default_precision(target.platform) if p == "half" else p
                    for p in FLAGS.precisions]
      records = []
      for case in kernel_forms.cases():
        if FLAGS.forms and case.form not in FLAGS.forms:
          continue
        for p in precisions:
          records.append(kernel_forms.measure(case, target, device, p))
          print(json.dumps(records[-1]), flush=True)
      if not FLAGS.forms or "generator_chunk" in FLAGS.forms:
        config = model_configs.get_config("official")
        for p in precisions:
          records.append(kernel_forms.generator_record(target, device, p, FLAGS.generator_batch,
                                                       config))
          print(json.dumps(records[-1]), flush=True)
      verdicts(records)
    return 0
  except errors.UserError as e:
    return errors.report(e)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  sys.exit(run())


if __name__ == "__main__":
  app.run(main)
