# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Self-reenactment evaluation of a trained model on your own clips, next to two baselines.

  python -m lp_jax.eval --workdir runs/train-demo --clips DIR [--grid grid.png]
  python -m lp_jax.eval --weights pretrained_weights/lp_jax --clips DIR   # converted / official
  python -m lp_jax.eval --workdir W                # the run's own held-out clips -> W/eval.jsonl

Each video of DIR is cut to one square around its face (OpenCV's Haar cascade, as the training
data is); its first frame is the source and every later frame (or --frames of them, every
--stride-th) drives it with their motion relative to the first frame, as inference drives a
source with a video. Every driven frame is scored (L1, PSNR, SSIM against the real frame) for the model, for
copy-the-source (the source frame itself) and for the model with no motion (x_d = x_s).

stdout: one JSON line per clip, then a summary line (means over the clips): model_psnr,
copy_source_psnr, no_motion_psnr, their _ssim and _l1, clips and frames. A clip that cannot be
read or has no detectable face is one line on stderr and is left out.

A workdir's model is its latest checkpoint with the config the run wrote (config.json; --config
FILE[:ARG] overrides it). Frames are scored at the run's data resolution; with --weights, at
the one its manifest records (256 for official weights) unless --size is given.
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np

from lp_jax import errors
from lp_jax import weights as weights_lib
from lp_jax.data import eval_clips, face_crop, index
from lp_jax.models import liveportrait
from lp_jax.training import evaluate
from lp_jax.training.objectives.common import input_sizes
from lp_jax.training.workdir_config import load_config

GRID_FRAMES = 3  # driven frames per clip in --grid
GRID_MIN_TILE = 128  # small frames are enlarged (nearest) so the grid is legible


class EvalError(errors.UserError):
  """A bad argument or input: one line, exit code 1."""


def load_model(args) -> tuple[dict, dict, int, int, dict]:
  """(modules, variables, image size, network size, description) of --workdir or --weights."""
  if args.weights:
    variables, manifest = weights_lib.load_variables(args.weights)  # UserError: one line
    model_config = weights_lib.model_config(manifest)
    sizes = weights_lib.input_sizes(manifest)
    size, about = args.size or sizes["image"], {"weights": args.weights}
    network_size = args.network_size or (sizes[evaluate.F], sizes[evaluate.M])
  else:
    config = load_config(args.config, args.workdir)
    variables, step = evaluate.workdir_networks(config, args.workdir)
    model_config = config.model
    size = args.size or int(config.data.image_size)
    network_size = args.network_size or input_sizes(config.loss)
    about = {"workdir": args.workdir, "step": step}
  modules = {n: liveportrait.build(n, model_config) for n in liveportrait.BASE_NETWORKS}
  return modules, variables, size, network_size, about


def _means(per_frame: dict) -> dict:
  return {f"{m}_{k}": float(np.mean(v)) for m, ks in per_frame.items() for k, v in ks.items()}


def _tile(x: np.ndarray) -> np.ndarray:
  img = cv2.cvtColor((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
  side = img.shape[0]
  if side < GRID_MIN_TILE:
    k = -(-GRID_MIN_TILE // side)
    img = cv2.resize(img, (side * k, side * k), interpolation=cv2.INTER_NEAREST)
  return img


def grid_rows(modules, variables, frames, network_size) -> list[np.ndarray]:
  """Rows source | driving | generated for GRID_FRAMES driven frames spread over the clip."""
  picks = sorted({int(round(i)) for i in np.linspace(1, len(frames) - 1, GRID_FRAMES)})
  generated = evaluate.generate(modules, variables, frames[:1], frames[picks], network_size)
  return [np.concatenate([_tile(frames[0]), _tile(frames[i]), _tile(g)], axis=1)
          for i, g in zip(picks, generated)]


def evaluate_folder(args) -> int:
  if not os.path.isdir(args.clips):
    raise EvalError(f"{args.clips}: no such folder of clips")
  if not eval_clips.list_videos(args.clips):
    raise EvalError(f"{args.clips}: no videos ({'/'.join(index.VIDEO_EXTS)}) in it")
  modules, variables, size, network_size, about = load_model(args)
  spec = face_crop.CropSpec()
  per_clip, rows = [], []
  for clip in eval_clips.iter_clips(args.clips, size, args.frames, args.stride, spec):
    if clip.skipped:
      print(f"{clip.name}: skipped ({clip.skipped})", file=sys.stderr)
      continue
    metrics = evaluate.clip_metrics(modules, variables, clip.frames, args.batch, network_size)
    line = {"clip": clip.name, "frames": len(clip.frames) - 1, **_means(metrics)}
    print(json.dumps(line), flush=True)
    per_clip.append(line)
    if args.grid:
      rows += grid_rows(modules, variables, clip.frames, network_size)
  if not per_clip:
    raise EvalError(f"{args.clips}: no clip could be evaluated (see the lines above)")
  keys = [k for k in per_clip[0] if k not in ("clip", "frames")]
  summary = {"summary": True, **about, "size": size, "clips": len(per_clip),
             "frames": sum(c["frames"] for c in per_clip),
             **{k: float(np.mean([c[k] for c in per_clip])) for k in keys}}
  summary["model_minus_copy_source_psnr"] = summary["model_psnr"] - summary["copy_source_psnr"]
  if args.grid:
    grid = np.concatenate(rows, axis=0)
    if not cv2.imwrite(args.grid, grid):
      raise EvalError(f"{args.grid}: could not write the grid image")
    summary["grid"] = args.grid
  print(json.dumps(summary), flush=True)
  return 0


def evaluate_held_out(args) -> int:
  """The run's own held-out clips (config.data): one line on stdout and in W/eval.jsonl."""
  config = load_config(args.config, args.workdir)
  result = evaluate.evaluate_workdir(config, args.workdir)
  line = json.dumps(result)
  print(line)
  with open(os.path.join(args.workdir, "eval.jsonl"), "a", encoding="utf-8") as f:
    f.write(line + "\n")
  return 0


def parse_args(argv):
  p = argparse.ArgumentParser(prog="python -m lp_jax.eval", description=__doc__.split("\n")[0])
  model = p.add_mutually_exclusive_group(required=True)
  model.add_argument("--workdir", help="a training workdir (its latest checkpoint)")
  model.add_argument("--weights", help="a converted lp_jax or official weights folder")
  p.add_argument("--config", help="FILE[:ARG]: the run's config (default: WORKDIR/config.json)")
  p.add_argument("--clips", help="a folder of videos (default: the run's held-out clips)")
  p.add_argument("--frames", type=int, default=0, help="frames read per clip, the first being "
                 "the source (default 0: the whole clip)")
  p.add_argument("--stride", type=int, default=1, help="read every N-th frame")
  p.add_argument("--size", type=int, default=0, help="side of the scored frames (default: the "
                 "run's data resolution, or the one the weights' manifest records: 256 for "
                 "official ones)")
  p.add_argument("--network_size", type=int, default=0, help="side of the frames F and M see "
                 "(default: the run's network_image_size, and its motion_image_size for M; with "
                 "--weights, the sides the manifest records: 256 for official ones)")
  p.add_argument("--batch", type=int, default=16, help="driving frames per device call")
  p.add_argument("--grid", help="write source | driving | generated rows to this PNG")
  args = p.parse_args(argv)
  if args.weights and not args.clips:
    p.error("--weights needs --clips")
  if args.frames == 1 or args.frames < 0 or args.stride < 1 or args.batch < 1:
    p.error("--frames must be 0 (all) or >= 2, --stride and --batch >= 1")
  return args


def main(argv=None) -> int:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    return evaluate_folder(args) if args.clips else evaluate_held_out(args)
  except errors.UserError as e:  # EvalError, ConfigError, DataError, a bad weights folder
    return errors.report(e)


if __name__ == "__main__":
  sys.exit(main())
