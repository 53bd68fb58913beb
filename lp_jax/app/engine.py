# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What the web app runs on: the networks (official, converted or synthetic), the face models and
the neutral-lip constant, loaded once per server.

Weights resolve like `make demo`: the official `pretrained_weights/` folder or a converted
directory when given, else the bundled demo model (small, trained by `make train-demo`; not the
official LivePortrait), or with `model_config` a synthetic checkpoint of random weights of that
config (timing at a model's shapes). `banner` says which, and the page shows it.
"""

import dataclasses
import hashlib
import os

import numpy as np

from lp_jax.detect.models import DOWNLOAD_HINT
from lp_jax.inference import assets
from lp_jax.inference.faces import FaceStage
from lp_jax.inference.pipeline import LivePortrait
from lp_jax.models import variants as model_configs
from lp_jax.motion_template import lip_constant


GET_OFFICIAL = (f"Get the official weights with {DOWNLOAD_HINT} and start with -w "
                "pretrained_weights.")


def synthetic_weights(model_config: str = "tiny") -> str:
  """The demo's synthetic checkpoint for `model_config` (written once, keyed by the config)."""
  digest = hashlib.sha256(model_configs.get_config(model_config).to_json().encode())
  path = os.path.join(assets.cache_root(), "weights",
                      f"synthetic-{model_config}-{digest.hexdigest()[:12]}")
  if not assets.is_synthetic(path):
    assets.write_synthetic(path, model_config)
  return path


def load_neutral_lip(path: str | None) -> np.ndarray:
  """[1, 21, 3] neutral-lip expression: `path` (the official .pkl), else the bundled copy."""
  lip = lip_constant.load_lip_array(path) if path else lip_constant.bundled_lip_array()
  return np.asarray(lip, np.float32)


@dataclasses.dataclass
class Engine:
  """The loaded pipeline and everything the actions share."""
  pipe: LivePortrait
  faces: FaceStage
  weights: str  # what `-w` of infer.py gets (a converted directory or the official folder)
  face_root: str | None  # the pretrained_weights folder holding the ONNX face models
  lip_array_path: str | None  # the official lip_array.pkl given on the command line
  neutral_lip: np.ndarray
  banner: str  # shown on the page: which weights, and whether they are synthetic

  @property
  def synthetic(self) -> bool:
    return self.pipe.synthetic


def load(weights: str | None, face_models: str | None = None, lip_array: str | None = None,
         model_config: str | None = None, batch_size: int = 8) -> Engine:
  """Loads the networks and face models.

  Args:
    weights: pretrained_weights/, its liveportrait/ folder or a converted directory; None uses
      the bundled demo model, or the synthetic checkpoint of `model_config` when one is named.
    face_models: folder with insightface/ and liveportrait/landmark.onnx (default: the one
      `weights` points into, if any).
    lip_array: the official lip_array.pkl (default: the bundled copy).
    model_config: configs/models.py variant of the synthetic checkpoint.
    batch_size: frames per W+G call of the animation.
  """
  face_root = None
  if weights is None and model_config:
    weights = synthetic_weights(model_config)
    origin = "no weights folder was found"
  elif weights is None:
    weights, origin = assets.DEMO_MODEL, None
  else:
    weights, face_root = assets.resolve(weights)
    origin = weights
  pipe = LivePortrait.from_pretrained(weights, batch_size=batch_size)
  face_root = face_models or face_root
  faces = FaceStage.from_weights(face_root)
  if pipe.synthetic:
    variant = assets.manifest_field(weights, "model_config", "official")
    banner = (f"SYNTHETIC WEIGHTS ({origin}): random, untrained networks of the '{variant}' "
              "config. Every stage runs, but the images are not what LivePortrait produces. "
              f"{GET_OFFICIAL}")
  elif origin is None:
    banner = f"DEMO MODEL ({weights}): {assets.description(weights)}. {GET_OFFICIAL}"
  else:
    banner = f"Weights: {weights}"
  if not faces.available:
    banner += (f" | No face models ({faces.missing}): sources must be face crops; cropping, "
               "paste-back and eye / lip ratios are off.")
  return Engine(pipe=pipe, faces=faces, weights=weights, face_root=face_root,
                lip_array_path=lip_array, neutral_lip=load_neutral_lip(lip_array),
                banner=banner)
