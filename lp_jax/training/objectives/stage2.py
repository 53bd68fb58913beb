# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stage II objective: the stitching and eye / lip retargeting MLPs on a frozen base.

Stage II (paper Sec. 3.3, Eq. 5-6). The base is frozen. Stitching: the source is driven by the
motion of another sample of the batch (cross identity) and the stitched render must equal the
reconstruction I_p,recon = D(W(f_s; x_s, x_s)) outside the faces (the shoulders), with an L1 on
the stitching offset. Eye / lip retargeting: the MLP offsets x_s to reach a requested openness
ratio; the render must equal the reconstruction outside the eye / lip boxes, with an L1 on the
offset and a condition loss.

Eq. 6 measures the openness on the rendered image with a landmark model; `cfg.ratios.measure`
(`ratio_measure`) says how:

* 'landmark_model' (whenever cfg.landmark_model names landmark.onnx): LivePortrait's landmark
  model (lp_jax.training.landmark_model) measures the official ratios. c_s and the driving
  request c_d come from the source / driving frames, the crop placed by their data landmarks or,
  without any, by the model's own estimate; the reached ratio comes from the rendered eye / lip
  images with the source's crop, so the condition loss differentiates through G, W and the
  keypoints into the MLPs.
* 'keypoint_gap_proxy' (without a landmark model): a proxy measured on the keypoints. The Stage I
  Wing loss ties keypoints 11/13 and 15/16 to the upper / lower lid mid-points and 14/17 to the
  inner-lip mid-points, so the lid (lip) gap of the keypoints divided by the eye (mouth) width is
  a proxy of the official landmark ratio. The output ratio is
  c_s + (gap(x_s + delta) - gap(x_s)) / width: only the *change* of the keypoint gap is trusted,
  so a constant offset between keypoints and landmarks cancels. c_s and c_d are the official
  ratios of the data landmarks, else the proxy; widths come from the source landmarks, or
  without landmarks from the keypoints' eye distance (`eye_width_per_iod`,
  `mouth_width_per_iod`).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from lp_jax.models import liveportrait
from lp_jax.ops import keypoints, motion, resize
from lp_jax.training import landmark_model as landmark_lib
from lp_jax.training import losses, regions
from lp_jax.training.streams import deinterleave, interleave, repeat
from lp_jax.training import variables as variables_lib
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives.common import (F_NAME, G_NAME, M_NAME, W_NAME,
                                               frozen_apply, input_sizes, render, sg,
                                               term_weight)

STAGE2_TERMS = ("stitching", "stitching_delta", "eye_region", "eye_delta", "eye_condition",
                "lip_region", "lip_delta", "lip_condition")
MEASURES = ("keypoint_gap_proxy", "landmark_model")


@dataclasses.dataclass(frozen=True)
class Stage2Models:
  """Frozen base (F, M, W, G), the stitching / eye / lip MLPs and, for ratios.measure
  'landmark_model', the frozen landmark model (None with the keypoint-gap proxy)."""
  F: nn.Module
  M: nn.Module
  W: nn.Module
  G: nn.Module
  stitching: nn.Module
  eye: nn.Module
  lip: nn.Module
  landmark_model: landmark_lib.LandmarkModel | None = None

  @classmethod
  def from_config(cls, model_config, dtype=jnp.float32, spectral_norm_folded: bool = False,
                  platform: str | None = None, remat: str = "none", batch_shards: int = 1,
                  landmark_model: landmark_lib.LandmarkModel | None = None):
    base = [liveportrait.build(n, model_config, dtype=dtype,
                               spectral_norm_folded=spectral_norm_folded, platform=platform,
                               remat=remat, batch_shards=batch_shards)
            for n in liveportrait.BASE_NETWORKS]
    mlps = [liveportrait.build(n, model_config) for n in ("stitching", "eye", "lip")]
    return cls(*base, *mlps, landmark_model=landmark_model)


def ratio_measure(cfg) -> str:
  """How the loss config measures openness: 'landmark_model' whenever cfg.landmark_model names
  landmark.onnx, else cfg.ratios.measure (checked)."""
  measure = cfg.ratios.get("measure", "keypoint_gap_proxy")
  if measure not in MEASURES:
    raise ConfigError(f"loss.ratios.measure {measure!r}: expected one of {', '.join(MEASURES)}")
  if cfg.get(landmark_lib.NAME):
    return "landmark_model"
  if measure == "landmark_model":
    raise ConfigError("loss.ratios.measure 'landmark_model' needs loss.landmark_model, the path "
                      "of LivePortrait's landmark.onnx")
  return measure


def _gaps(x, cfg):
  """Keypoint openness: eye lid gaps [B, 2] and inner-lip gap [B, 1] (x, y distance)."""
  dist = lambda a, b: jnp.linalg.norm(x[:, a, :2] - x[:, b, :2], axis=-1)
  eye = jnp.stack([dist(*cfg.ratios.eye_keypoints[0]), dist(*cfg.ratios.eye_keypoints[1])], -1)
  return eye, dist(*cfg.ratios.lip_keypoints)[:, None]


def _widths(x_s, batch, cfg, size: int):
  """Eye [B, 2] and mouth [B, 1] widths in keypoint units: landmarks, else from the eye distance."""
  eye_gap_centres = [jnp.mean(x_s[:, list(pair), :2], axis=1) for pair in cfg.ratios.eye_keypoints]
  iod = jnp.linalg.norm(eye_gap_centres[0] - eye_gap_centres[1], axis=-1)[:, None]  # [B, 1]
  eye_lmk, lip_lmk = regions.landmark_widths(batch["source_landmarks"].astype(jnp.float32), size)
  has = jnp.asarray(batch["has_landmarks"], bool)[:, None]
  eye = jnp.where(has, eye_lmk, jnp.broadcast_to(iod * cfg.ratios.eye_width_per_iod, eye_lmk.shape))
  lip = jnp.where(has, lip_lmk, iod * cfg.ratios.mouth_width_per_iod)
  # A floor: untrained keypoints can sit almost on top of each other, and a near-zero width
  # would turn every keypoint jitter into a huge ratio change.
  floor = cfg.ratios.min_width
  return sg(jnp.maximum(eye, floor)), sg(jnp.maximum(lip, floor))


def _ratios(x, lmk, has, widths, cfg):
  """Official ratios from landmarks where present, else the keypoint proxy gap / width."""
  eye_lmk, lip_lmk = regions.landmark_ratios(lmk.astype(jnp.float32))
  eye_kp, lip_kp = _gaps(x, cfg)
  has = jnp.asarray(has, bool)[:, None]
  return (sg(jnp.where(has, eye_lmk, eye_kp / widths[0])),
          sg(jnp.where(has, lip_lmk, lip_kp / widths[1])))


def _maybe_random(rng, target, low: float, high: float, prob: float):
  """Replaces each row of `target` [B, 1] by U(low, high) with probability `prob`."""
  k_pick, k_value = jax.random.split(rng)
  pick = jax.random.uniform(k_pick, target.shape[:1] + (1,)) < prob
  return jnp.where(pick, jax.random.uniform(k_value, target.shape, minval=low, maxval=high),
                   target)


def _landmark_ratios(lm, params, batch, src, drv):
  """(c_s, c_d, the source's crop landmarks) measured by the landmark model `lm`, stop_gradient'ed.

  Source and driving frames are cropped by their data landmarks, or by the model's own first
  estimate where a sample has none; the renders are later cropped like the source.
  """
  frames = interleave(src, drv)
  has = repeat(jnp.asarray(batch["has_landmarks"], bool), 2)
  placed = lm.fill(frames, interleave(batch["source_landmarks"], batch["driving_landmarks"]), has,
                   params)
  (eye_s, eye_d), (lip_s, lip_d) = (deinterleave(sg(r), 2)
                                    for r in lm.openness(frames, placed, params))
  return (eye_s, lip_s), (eye_d, lip_d), deinterleave(placed, 2)[0]


def stage2_loss(models: Stage2Models, retarget_params, base_variables, batch, rng, cfg):
  """Stage II objective of the stitching, eye and lip MLPs (paper Eq. 5-6), base frozen.

  Args:
    models: Stage2Models (with its landmark model for ratios.measure 'landmark_model').
    retarget_params: dict with any of 'stitching', 'eye', 'lip' -> MLP params (differentiated);
      the terms of an absent MLP are 0.
    base_variables: dict network name -> full variables of F, M, W, G (stop_gradient'ed here),
      and optionally landmark_model.NAME -> the landmark model's parameters (default: the ones
      models.landmark_model loaded).
    batch: the data batch (lp_jax.data.pipeline schema).
    rng: PRNG key (random condition targets).
    cfg: the loss ConfigDict (`configs.losses.get_config(2)`).

  Returns:
    (total, metrics) with 'loss/<term>' (unweighted) for every Stage II term, 'loss/total' and
    the mean requested / reached ratios 'ratio/<eye|lip>_<target|output>'.
  """
  measure = ratio_measure(cfg)
  lm = models.landmark_model if measure == "landmark_model" else None
  if measure == "landmark_model" and lm is None:
    raise ConfigError("loss.ratios.measure 'landmark_model': the Stage II models have no landmark "
                      "model (Stage2Models.from_config(..., landmark_model=...))")
  base = jax.tree.map(sg, base_variables)
  lm_params = base.get(landmark_lib.NAME)
  src = batch["source"].astype(jnp.float32)
  drv = batch["driving"].astype(jnp.float32)
  b, size = src.shape[0], src.shape[1]
  net, motion_net = input_sizes(cfg)
  f_s = frozen_apply(models.F, base[F_NAME], resize.resize(src, net))
  raw = frozen_apply(models.M, base[M_NAME], resize.resize(interleave(src, drv), motion_net))
  num_kp = raw["kp"].shape[-1] // 3
  info = keypoints.refine_kp_info(raw, num_kp)
  info_s, info_d = (keypoints.with_rotation(i) for i in deinterleave(info, 2))
  x_s = sg(keypoints.apply_motion(info_s["kp"], info_s))
  shift = cfg.cross_identity_shift
  info_x = {k: jnp.roll(v, shift, axis=0) for k, v in info_d.items()}  # another sample's motion
  x_cross = sg(keypoints.apply_motion(info_s["kp"], info_x))

  terms = {t: jnp.float32(0) for t in STAGE2_TERMS}
  metrics = {}
  targets = []  # (name, driven keypoints, region names to exclude)
  src_boxes = regions.landmark_boxes(batch["source_landmarks"], batch["has_landmarks"], size,
                                     cfg.regions.box_scales.to_dict())
  if "stitching" in retarget_params:
    delta = models.stitching.apply({"params": retarget_params["stitching"]},
                                   motion.stitching_input(x_s, x_cross))  # [B, 3K + 2]
    terms["stitching_delta"] = jnp.mean(jnp.abs(delta))
    # The output face sits near the driver's face: mask both faces, keep the shoulders.
    drv_boxes = regions.landmark_boxes(
        jnp.roll(batch["driving_landmarks"], shift, axis=0),
        jnp.roll(batch["has_landmarks"], shift, axis=0), size, cfg.regions.box_scales.to_dict())
    keep = 1 - jnp.maximum(regions.region_mask(src_boxes, ["face"], size),
                           regions.region_mask(drv_boxes, ["face"], size))
    targets.append(("stitching", motion.apply_stitching(x_cross, delta), keep))

  if lm is not None:
    c_s, c_d, src_placed = _landmark_ratios(lm, lm_params, batch, src, drv)
  else:
    widths = _widths(x_s, batch, cfg, size)
    c_s = _ratios(x_s, batch["source_landmarks"], batch["has_landmarks"], widths, cfg)
    # Same-clip driving: a realistic requested openness.
    x_d = sg(keypoints.apply_motion(info_s["kp"], info_d))
    c_d = _ratios(x_d, batch["driving_landmarks"], batch["has_landmarks"], widths, cfg)
    gaps_s = _gaps(x_s, cfg)
  requests = {}  # name -> requested ratio [B, 1]; the condition loss once the output is measured
  reached = {}  # name -> reached ratio ([B, 2] eye, [B, 1] lip)
  k_eye, k_lip = jax.random.split(rng)
  for i, (name, key) in enumerate((("eye", k_eye), ("lip", k_lip))):
    if name not in retarget_params:
      continue
    spec = cfg.ratios[name]
    # The official eye condition has one driving value for both eyes; the mean of the driving
    # eyes stands in for the official left-eye quirk.
    requests[name] = _maybe_random(key, jnp.mean(c_d[i], axis=1, keepdims=True), spec.low,
                                   spec.high, cfg.ratios.random_target_prob)
    cond = jnp.concatenate([c_s[i], requests[name]], axis=1)  # [B, 3] eye, [B, 2] lip
    net_module = getattr(models, name)
    delta = net_module.apply({"params": retarget_params[name]},
                             motion.retarget_input(x_s, cond)).reshape(b, num_kp, 3)
    x_new = x_s + delta
    if lm is None:
      reached[name] = c_s[i] + (_gaps(x_new, cfg)[i] - gaps_s[i]) / widths[i]
    terms[f"{name}_delta"] = jnp.mean(jnp.abs(delta))
    names = ["left_eye", "right_eye"] if name == "eye" else ["lip"]
    targets.append((f"{name}_region", x_new, 1 - regions.region_mask(src_boxes, names, size)))

  if targets:
    # One W + G pass over the reconstruction and every driven variant: x_s, stitching, eye and
    # lip interleaved along the batch (training/streams.py). Eq. 5-6 compare each variant with
    # the reconstruction I_p,recon = D(W(f_s; x_s, x_s)), not with the source image: the MLPs
    # must leave the frozen generator's own reconstruction error alone.
    n = len(targets) + 1
    images = render(models, (base[W_NAME]["params"], base[G_NAME]["params"]),
                    tuple(variables_lib.split_variables(base[k])[1] for k in (W_NAME, G_NAME)),
                    repeat(f_s, n), repeat(x_s, n),
                    interleave(x_s, *(t[1] for t in targets)), False, size)[0]
    recon, *variants = deinterleave(images, n)
    rendered = {}
    for (name, _, keep), image in zip(targets, variants):
      terms[name] = losses.masked_l1(image, sg(recon), keep)
      rendered[name] = image
    if lm is not None and requests:
      # Eq. 6: the openness of the rendered I_p,eyes / I_p,lip, cropped where the source is, in
      # one landmark-model pass over both variants.
      names = list(requests)
      eye, lip = lm.openness(interleave(*(rendered[f"{n}_region"] for n in names)),
                             repeat(src_placed, len(names)), lm_params)
      eyes, lips = deinterleave(eye, len(names)), deinterleave(lip, len(names))
      for j, name in enumerate(names):
        reached[name] = (eyes if name == "eye" else lips)[j]

  for name, request in requests.items():
    terms[f"{name}_condition"] = jnp.mean(jnp.abs(reached[name] - request))
    metrics[f"ratio/{name}_target"] = jnp.mean(request)
    metrics[f"ratio/{name}_output"] = jnp.mean(reached[name])

  total = jnp.asarray(sum(term_weight(cfg, t) * v for t, v in terms.items()), jnp.float32)
  metrics.update({f"loss/{t}": v for t, v in terms.items()})
  for name in ("eye", "lip"):
    metrics.setdefault(f"ratio/{name}_target", jnp.float32(0))
    metrics.setdefault(f"ratio/{name}_output", jnp.float32(0))
  metrics["loss/total"] = total
  return total, metrics
