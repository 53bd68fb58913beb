# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The official LivePortrait wrapper, built from a user's checkout on our weights, on CPU.

The project ships none of the official code: `DIR` is a checkout of KwaiVGI/LivePortrait that
the user provides, imported at run time. Its wrapper is built exactly as the official inference
builds it (its models.yaml, its load_model), in float32 on CPU without torch.compile, from .pth
files that our exporter writes from the same variables our networks run on.
"""

import contextlib
import importlib
import os
import sys
import time

import numpy as np

from lp_jax.errors import UserError
from lp_jax.weights import export as weights_export
from lp_jax.weights import official as official_layout

try:
  import torch
except ImportError:  # only `--official` needs torch; the plain benchmark never does
  torch = None

# The files the official wrapper imports and reads, relative to the checkout.
REQUIRED = ("src/live_portrait_wrapper.py", "src/config/inference_config.py",
            "src/config/models.yaml", "src/modules/spade_generator.py")
# InferenceConfig field of each base network's checkpoint path.
CHECKPOINT_FIELDS = {"appearance_feature_extractor": "checkpoint_F",
                     "motion_extractor": "checkpoint_M", "warping_module": "checkpoint_W",
                     "spade_generator": "checkpoint_G"}


class OfficialError(UserError):
  """A one-line reason the official side cannot run (bad checkout, torch or imports missing)."""


def check_checkout(path: str) -> str:
  """The absolute checkout path, or OfficialError naming the path and what is missing."""
  if torch is None:
    raise OfficialError("--official needs torch, which is not installed: "
                        "pip install -e '.[official]'")
  root = os.path.abspath(path)
  if not os.path.isdir(root):
    raise OfficialError(f"{root}: no such directory (expected a checkout of "
                        "github.com/KwaiVGI/LivePortrait)")
  missing = [f for f in REQUIRED if not os.path.isfile(os.path.join(root, f))]
  if missing:
    raise OfficialError(f"{root}: not a LivePortrait checkout (missing {', '.join(missing)})")
  return root


def write_checkpoints(variables: dict, dst: str) -> dict[str, str]:
  """{network: .pth path} in the official layout, from our (unfolded) variables.

  Spectral norm stays unfolded (weight_orig, u, v), as in the official files: the official
  generator recomputes sigma per call, ours folds it once at load, and both run the same W / sigma.
  """
  paths = {}
  for name in CHECKPOINT_FIELDS:
    state = weights_export.variables_to_state_dict(variables[name], None)
    path = os.path.join(dst, official_layout.BASE_FILES[name])
    torch.save({k: torch.from_numpy(np.array(v, order="C")) for k, v in state.items()}, path)
    paths[name] = path
  return paths


def load_wrapper(root: str, checkpoints: dict[str, str], threads: int):
  """The official LivePortraitWrapper on CPU, float32, `threads` intra-op threads."""
  torch.set_num_threads(threads)
  if root not in sys.path:
    sys.path.insert(0, root)
  try:
    config_module = importlib.import_module("src.config.inference_config")
    wrapper_module = importlib.import_module("src.live_portrait_wrapper")
  except ImportError as e:
    raise OfficialError(f"{root}: importing the official code failed ({e}); "
                        "pip install -e '.[official]'") from e
  imported_from = os.path.dirname(os.path.dirname(os.path.abspath(wrapper_module.__file__)))
  if imported_from != root:
    raise OfficialError(f"{root}: the module 'src' was already imported from {imported_from}")
  fields = {CHECKPOINT_FIELDS[n]: p for n, p in checkpoints.items()}
  config = config_module.InferenceConfig(**fields, checkpoint_S=None, flag_force_cpu=True,
                                         flag_use_half_precision=False,
                                         flag_do_torch_compile=False)
  # Its load messages go to stderr so that stdout stays JSON lines and the table.
  with contextlib.redirect_stdout(sys.stderr):
    return wrapper_module.LivePortraitWrapper(config)


def calls(wrapper, image: np.ndarray, feature_3d: np.ndarray, kp_source: np.ndarray,
          kp_driving: np.ndarray) -> dict:
  """{network: no-argument call returning a numpy output in our layout} of the wrapper.

  Inputs come in our layout (NHWC image, NDHWC volume) and are handed over in the official one.
  """
  x = torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
  f_s = torch.from_numpy(np.ascontiguousarray(feature_3d.transpose(0, 4, 1, 2, 3)))
  x_s, x_d = torch.from_numpy(kp_source), torch.from_numpy(kp_driving)
  return {
      "F": lambda: wrapper.extract_feature_3d(x).numpy().transpose(0, 2, 3, 4, 1),
      "M": lambda: wrapper.get_kp_info(x)["kp"].numpy(),
      "W+G": lambda: wrapper.warp_decode(f_s, x_s, x_d)["out"].numpy().transpose(0, 2, 3, 1),
  }


def version() -> str:
  return torch.__version__


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
  """FLOP/s of an n x n float32 matmul in PyTorch (the same-process reference)."""
  a = torch.from_numpy(np.random.default_rng(0).standard_normal((n, n), np.float32))
  torch.mm(a, a)  # warm-up: allocations, thread pool
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    torch.mm(a, a)
    best = min(best, time.perf_counter() - start)
  return 2 * n ** 3 / best
