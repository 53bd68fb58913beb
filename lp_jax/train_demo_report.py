# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The end of `make train-demo`: the held-out evaluation, the grid and the learning curve.

  python -m lp_jax.train_demo_report --workdir runs/train-demo

Runs `python -m lp_jax.eval` on the run's held-out clips (config.data.eval_names), writes
WORKDIR/heldout.jsonl (its lines), WORKDIR/grid.png (source | driving | generated) and
WORKDIR/learning_curve.png (the training losses and the held-out PSNR over the steps, with the
copy-the-source PSNR as a line), and prints the per-clip table.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile

import cv2
import numpy as np

from lp_jax import errors
from lp_jax import eval as eval_cli
from lp_jax.training import metrics as metrics_lib
from lp_jax.training import workdir_config
from lp_jax.training.errors import ConfigError

CURVE_LOSSES = ("loss/total", "loss/pixel", "loss/equivariance")
COLOURS = [(200, 80, 30), (40, 140, 40), (30, 30, 200), (150, 60, 150)]  # BGR


def held_out_folder(config, workdir: str, folder: str) -> None:
  """Links the run's held-out clips into `folder` (one flat folder, as eval --clips wants)."""
  for name in config.data.eval_names:
    src = os.path.join(config.data.root, name)
    if not os.path.isfile(src):
      raise ConfigError(f"{src}: held-out clip of {workdir} not found")
    os.symlink(src, os.path.join(folder, name.replace("/", "_")))


def _panel(series: dict, title: str, width: int = 640, height: int = 300) -> np.ndarray:
  """A line plot of {label: (steps, values)} on a white canvas (OpenCV only)."""
  img = np.full((height, width, 3), 255, np.uint8)
  left, right, top, bottom = 60, 20, 30, 40
  xs = np.concatenate([np.asarray(s, float) for s, _ in series.values()])
  ys = np.concatenate([np.asarray(v, float) for _, v in series.values()])
  x0, x1 = 0.0, max(1.0, xs.max())
  y0, y1 = ys.min(), ys.max()
  pad = 0.05 * (y1 - y0 or 1.0)
  y0, y1 = y0 - pad, y1 + pad
  px = lambda x: int(left + (x - x0) / (x1 - x0) * (width - left - right))
  py = lambda y: int(height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))
  cv2.rectangle(img, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
  for t in np.linspace(y0 + pad, y1 - pad, 4):
    cv2.putText(img, f"{t:.3g}", (2, py(t) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
  for t in np.linspace(0, x1, 5):
    cv2.putText(img, f"{int(t)}", (px(t) - 12, height - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX,
                0.38, (0, 0, 0), 1)
  cv2.putText(img, title + "  (x: step)", (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
  for i, (label, (steps, values)) in enumerate(series.items()):
    colour = COLOURS[i % len(COLOURS)]
    pts = np.array([[px(s), py(v)] for s, v in zip(steps, values)], np.int32)
    if len(pts) > 1:
      cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
    for p in pts if len(pts) < 30 else []:
      cv2.circle(img, tuple(int(c) for c in p), 3, colour, -1)
    cv2.putText(img, label, (width - right - 230, top + 18 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, colour, 1, cv2.LINE_AA)
  return img


def learning_curve(records: list, copy_source_psnr: float | None, path: str) -> None:
  """Losses (a running mean over 5 log lines) and held-out PSNR over the steps, as a PNG."""
  losses = {}
  for key in CURVE_LOSSES:
    pts = [(r["step"], r[key]) for r in records if key in r]
    if pts:
      steps, values = zip(*pts)
      k = min(5, len(values))
      smooth = np.convolve(values, np.ones(k) / k, mode="valid")
      losses[key] = (steps[k - 1:], smooth)
  evals = [(r["step"], r["eval/psnr"]) for r in records if "eval/psnr" in r]
  panels = [_panel(losses, "training losses (mean of 5 log lines)")]
  if evals:
    steps, values = zip(*evals)
    psnr = {"held-out PSNR, model (dB)": (steps, values)}
    if copy_source_psnr is not None:
      psnr["copy the source (dB)"] = ((0, steps[-1]), (copy_source_psnr, copy_source_psnr))
    panels.append(_panel(psnr, "held-out self-reenactment"))
  cv2.imwrite(path, np.concatenate(panels, axis=0))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m lp_jax.train_demo_report")
  p.add_argument("--workdir", required=True)
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  grid = os.path.join(args.workdir, "grid.png")
  with tempfile.TemporaryDirectory() as folder:
    try:
      held_out_folder(workdir_config.load_config(None, args.workdir), args.workdir, folder)
    except errors.UserError as e:  # not a training workdir, a held-out clip gone
      return errors.report(e)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      code = eval_cli.main(["--workdir", args.workdir, "--clips", folder, "--grid", grid])
  if code:
    return code
  lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
  with open(os.path.join(args.workdir, "heldout.jsonl"), "w", encoding="utf-8") as f:
    f.writelines(json.dumps(line) + "\n" for line in lines)
  *clips, summary = lines
  records = metrics_lib.read_jsonl(os.path.join(args.workdir, "metrics.jsonl"))
  learning_curve(records, summary["copy_source_psnr"],
                 os.path.join(args.workdir, "learning_curve.png"))
  print(f"held-out self-reenactment at step {summary['step']} ({summary['size']} px, "
        f"{summary['frames']} driven frames):")
  print("| clip | model L1 / PSNR / SSIM | copy the source | no motion |")
  print("| --- | --- | --- | --- |")
  for row in clips + [dict(summary, clip="mean over clips")]:
    cells = [f"{row[m + '_l1']:.4f} / {row[m + '_psnr']:.2f} / {row[m + '_ssim']:.3f}"
             for m in ("model", "copy_source", "no_motion")]
    print(f"| {row['clip']} | " + " | ".join(cells) + " |")
  print(f"model - copy the source: {summary['model_minus_copy_source_psnr']:+.2f} dB PSNR; "
        f"wrote {grid}, {os.path.join(args.workdir, 'learning_curve.png')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
