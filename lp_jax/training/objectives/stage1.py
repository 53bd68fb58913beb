# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Stage I objective: F, M, W, G against the global, face and lip discriminators.

Stage I (paper Sec. 3.2). Source and driving frames come from one clip. M runs once on
[source; driving; TPS-warped driving]; the driving keypoints use the *source* canonical keypoints
with the driving pose, expression, scale and translation (Eq. 2,
x_d = s_d * (x_c,s R_d + delta_d) + t_d); W warps F(source) from x_s to x_d and G renders the
driving frame. Terms (each weight in `cfg.weights`, each logged as `loss/<term>`):
perceptual(_face, _lip), gan(_face, _lip), feature_matching(_face, _lip), equivariance,
keypoint_prior, head_pose, deformation_prior, identity, wing.
"""

import dataclasses
import functools

import flax.linen as nn
import jax.numpy as jnp

from lp_jax.models import liveportrait
from lp_jax.models.auxiliary import hopenet as hopenet_lib
from lp_jax.ops import keypoints, resize
from lp_jax.training import landmark_model as landmark_lib
from lp_jax.training import losses, regions, transforms
from lp_jax.training.streams import deinterleave, interleave, repeat
from lp_jax.training.objectives.common import (F_NAME, G_NAME, M_NAME, W_NAME, apply_module,
                                               frozen_apply, input_sizes, render, sg,
                                               term_weight)

DISC_REGIONS = ("global", "face", "lip")
STAGE1_TERMS = ("perceptual", "perceptual_face", "perceptual_lip", "pixel", "gan", "gan_face",
                "gan_lip", "feature_matching", "feature_matching_face", "feature_matching_lip",
                "equivariance", "keypoint_prior", "head_pose", "deformation_prior", "identity",
                "wing")
DISC_TERMS = tuple(f"disc_{r}" for r in DISC_REGIONS)
# Which network each Stage I term needs besides F, M, W, G.
_NEEDS = {"perceptual": "vgg", "perceptual_face": "vgg", "perceptual_lip": "vgg", "gan": "D",
          "gan_face": "D", "gan_lip": "D", "feature_matching": "D", "feature_matching_face": "D",
          "feature_matching_lip": "D", "head_pose": "hopenet", "identity": "arcface"}
_AUX_KEYS = {"vgg": "vgg19", "hopenet": "hopenet", "arcface": "arcface"}
# Terms that read the data's 203-point landmarks: Wing directly, the others through the face and
# lip crops (boxes around the landmarks). With a landmark model, Wing also runs on samples
# without data landmarks (the model's, found on the fly); the crops keep their fallback boxes.
NEEDS_LANDMARKS = ("perceptual_face", "perceptual_lip", "gan_face", "gan_lip",
                   "feature_matching_face", "feature_matching_lip", "identity", "wing")


@dataclasses.dataclass(frozen=True)
class Stage1Models:
  """The Stage I modules (hashable: pass as a static argument or close over it)."""
  F: nn.Module  # appearance feature extractor
  M: nn.Module  # motion extractor
  W: nn.Module  # warping module
  G: nn.Module  # SPADE generator
  D: nn.Module | None = None  # multi-scale patch discriminator; one parameter set per region
  vgg: nn.Module | None = None  # VGG-19 pyramid (perceptual terms)
  hopenet: nn.Module | None = None  # head-pose estimator (head_pose term)
  arcface: nn.Module | None = None  # face embedding (identity term)
  # Frozen landmark.onnx: the landmarks of samples without data landmarks (Wing term).
  landmark_model: landmark_lib.LandmarkModel | None = None

  @classmethod
  def from_config(cls, model_config, dtype=jnp.float32, platform: str | None = None,
                  remat: str = "none", batch_shards: int = 1, **aux):
    """F, M, W, G from configs/models (training form: spectral norm not folded) plus aux modules.

    `platform` selects their layer forms (liveportrait.build); default the running backend.
    `remat`: config.remat (models/remat.py). `batch_shards`: the mesh's batch split
    (liveportrait.build).
    """
    base = [liveportrait.build(n, model_config, dtype=dtype, platform=platform, remat=remat,
                               batch_shards=batch_shards)
            for n in liveportrait.BASE_NETWORKS]
    return cls(*base, **aux)

  def networks(self) -> dict:
    return dict(zip(liveportrait.BASE_NETWORKS, (self.F, self.M, self.W, self.G)))


def active_terms(models, cfg) -> dict:
  """Stage I term -> None when computed, else why not ('weight 0', 'no vgg19 network', 'no
  landmarks in the data'); static (host) values. cfg.data_landmarks (set by the training loop
  from the data source) says whether any clip has landmarks."""
  out = {}
  for term in STAGE1_TERMS:
    need = _NEEDS.get(term)
    if term_weight(cfg, term) == 0:
      out[term] = "weight 0"
    elif need is not None and getattr(models, need) is None:
      out[term] = f"no {_AUX_KEYS.get(need, 'discriminator')} network"
    elif (term in NEEDS_LANDMARKS and not cfg.get("data_landmarks", True) and
          not (term == "wing" and models.landmark_model is not None)):
      out[term] = "no landmarks in the data"
    else:
      out[term] = None
  return out


def describe_terms(models, cfg) -> list:
  """One line per term that is off, with the reason, for the run to log once at start."""
  return [f"loss term {t} is off ({why})" for t, why in active_terms(models, cfg).items() if why]


def _landmarks_to_256(lmk, image_size: int):
  """Pixel landmarks of the S frame -> pixels of a 256 frame (Wing's w, eps are in those)."""
  return (lmk + 0.5) * (256.0 / image_size) - 0.5


def _keypoints_to_256(kp_xy):
  """[-1, 1] keypoint (x, y) -> pixels of a 256 frame (pixel i centred at i)."""
  return ((kp_xy + 1) * 256 - 1) / 2


def stage1_generator_loss(models: Stage1Models, gen_params, gen_state, disc_variables,
                          aux_variables, batch, rng, cfg):
  """Stage I generator objective.

  Args:
    models: Stage1Models.
    gen_params: dict network name -> params of F, M, W, G (differentiated).
    gen_state: dict network name -> mutable collections ({'batch_stats': ..., 'spectral': ...}).
    disc_variables: dict region ('global', 'face', 'lip') -> full D variables, or None.
    aux_variables: dict 'vgg19' / 'hopenet' / 'arcface' -> variables (missing: term off), and
      optionally landmark_model.NAME -> the landmark model's parameters (default: the loaded
      ones of models.landmark_model).
    batch: the data batch (lp_jax.data.pipeline: source, driving [B, S, S, 3], landmarks,
      has_landmarks).
    rng: PRNG key (the TPS warp of the equivariance term).
    cfg: the loss ConfigDict (`configs.losses.get_config(1)`).

  Returns:
    (total, (new_gen_state, metrics, generated)); metrics has 'loss/<term>' (unweighted, 0 when
    off) for every Stage I term and 'loss/total'; generated = {'image': [B, S, S, 3] frozen}.
  """
  aux_variables = aux_variables or {}
  on = {t: why is None for t, why in active_terms(models, cfg).items()}
  src = batch["source"].astype(jnp.float32)
  drv = batch["driving"].astype(jnp.float32)
  b, size = src.shape[0], src.shape[1]
  net, motion_net = input_sizes(cfg)
  src_n = resize.resize(src, net)
  src_m, drv_m = resize.resize(src, motion_net), resize.resize(drv, motion_net)
  tps = transforms.random_tps(rng, b, cfg.equivariance.sigma_affine, cfg.equivariance.sigma_tps,
                              cfg.equivariance.points_tps)
  new_state = dict(gen_state)

  f_s, new_state[F_NAME] = apply_module(models.F, gen_params[F_NAME], gen_state[F_NAME], src_n,
                                        train=True)
  # One M pass over source, driving and warped driving, interleaved (training/streams.py).
  m_in = interleave(src_m, drv_m, transforms.warp_images(drv_m, tps))
  raw, new_state[M_NAME] = apply_module(models.M, gen_params[M_NAME], gen_state[M_NAME], m_in,
                                        train=True)
  num_kp = raw["kp"].shape[-1] // 3
  info = keypoints.refine_kp_info(raw, num_kp)
  info_s, info_d, info_w = (keypoints.with_rotation(i) for i in deinterleave(info, 3))
  x_s = keypoints.apply_motion(info_s["kp"], info_s)  # [B, K, 3]
  x_d = keypoints.apply_motion(info_s["kp"], info_d)  # source canonical kp, driving motion
  x_w = keypoints.apply_motion(info_s["kp"], info_w)

  pred, (new_state[W_NAME], new_state[G_NAME]) = render(
      models, (gen_params[W_NAME], gen_params[G_NAME]),
      (gen_state[W_NAME], gen_state[G_NAME]), f_s, x_s, x_d, True, size)

  terms = {t: jnp.float32(0) for t in STAGE1_TERMS}
  boxes = regions.landmark_boxes(batch["driving_landmarks"], batch["has_landmarks"], size,
                                 cfg.regions.box_scales.to_dict())
  crop_sizes = {"face": cfg.regions.face_crop_size, "lip": cfg.regions.lip_crop_size}
  crops = {r: (regions.crop_regions(pred, boxes[r], crop_sizes[r]),
               regions.crop_regions(drv, boxes[r], crop_sizes[r])) for r in crop_sizes}
  pairs = {"": (pred, drv), "_face": crops["face"], "_lip": crops["lip"]}

  if models.vgg is not None:
    vgg_fn = functools.partial(frozen_apply, models.vgg, aux_variables["vgg19"])
    for suffix, (p, t) in pairs.items():
      if on["perceptual" + suffix]:
        terms["perceptual" + suffix] = losses.perceptual_loss(
            vgg_fn, p, t, tuple(cfg.perceptual.scales[suffix.strip("_") or "full"]),
            tuple(cfg.perceptual.layer_weights))

  if on["pixel"]:
    terms["pixel"] = losses.pixel_loss(pred, drv, tuple(cfg.pixel_scales))

  if models.D is not None and disc_variables is not None:
    for region, suffix in zip(DISC_REGIONS, pairs):
      if not (on["gan" + suffix] or on["feature_matching" + suffix]):
        continue
      p, t = pairs[suffix]
      out = frozen_apply(models.D, disc_variables[region], interleave(p, sg(t)))
      fake_out, real_out = deinterleave(out, 2)
      terms["gan" + suffix] = losses.gan_generator_loss(fake_out, cfg.gan_mode)
      terms["feature_matching" + suffix] = losses.feature_matching_loss(real_out, fake_out)

  if on["equivariance"]:
    terms["equivariance"] = losses.equivariance_loss(x_d, x_w, tps)
  if on["keypoint_prior"]:
    terms["keypoint_prior"] = losses.keypoint_prior_loss(x_d, cfg.keypoint_prior.distance,
                                                         cfg.keypoint_prior.depth)
  if on["deformation_prior"]:
    terms["deformation_prior"] = losses.deformation_prior_loss(info_s["exp"], info_d["exp"])
  if on["head_pose"]:
    yaw, pitch, roll = frozen_apply(models.hopenet, aux_variables["hopenet"], drv)
    target = jnp.stack([hopenet_lib.logits_to_degrees(a) for a in (yaw, pitch, roll)], axis=-1)
    pred_deg = jnp.concatenate([info_d["yaw"], info_d["pitch"], info_d["roll"]], axis=-1)
    terms["head_pose"] = losses.head_pose_loss(pred_deg, target)
  if on["identity"]:
    p, t = crops["face"]
    emb = frozen_apply(models.arcface, aux_variables["arcface"], interleave(p, sg(t)))
    terms["identity"] = losses.identity_loss(*deinterleave(emb, 2))
  if on["wing"]:
    kp_idx = [k for k, _ in cfg.wing.pairs]
    lmk_idx = [l for _, l in cfg.wing.pairs]
    src_lmk, drv_lmk = batch["source_landmarks"], batch["driving_landmarks"]
    has = batch["has_landmarks"]
    if models.landmark_model is not None:
      # Samples without data landmarks take the frozen model's (stop_gradient'ed), found from
      # scratch on their frames, so Wing guides every sample.
      filled = models.landmark_model.fill(
          interleave(src, drv), interleave(src_lmk, drv_lmk), repeat(jnp.asarray(has, bool), 2),
          aux_variables.get(landmark_lib.NAME))
      (src_lmk, drv_lmk), has = deinterleave(filled, 2), None
    wing = functools.partial(losses.wing_loss, w=cfg.wing.w, eps=cfg.wing.eps, mask=has)
    terms["wing"] = 0.5 * (
        wing(_keypoints_to_256(x_s[:, kp_idx, :2]), _landmarks_to_256(src_lmk[:, lmk_idx], size)) +
        wing(_keypoints_to_256(x_d[:, kp_idx, :2]), _landmarks_to_256(drv_lmk[:, lmk_idx], size)))

  total = sum(term_weight(cfg, t) * v for t, v in terms.items() if on[t])
  total = jnp.asarray(total, jnp.float32)
  metrics = {f"loss/{t}": v for t, v in terms.items()}
  metrics["loss/total"] = total
  return total, (new_state, metrics, {"image": sg(pred)})


def stage1_discriminator_loss(models: Stage1Models, disc_params, disc_state, generated, batch,
                              rng, cfg):
  """Discriminator objective of the global, face and lip discriminators.

  Args:
    disc_params / disc_state: dict region ('global', 'face', 'lip') -> params / mutable
      collections of that region's discriminator.
    generated: the `generated` of stage1_generator_loss ({'image': [B, S, S, 3]}).
    rng: unused (kept for a uniform step signature).

  Returns:
    (total, (new_disc_state, metrics)) with 'loss/disc_<region>' (unweighted), 'loss/disc_total'
    and mean logits 'disc/real_<region>', 'disc/fake_<region>'.
  """
  del rng
  metrics = {f"loss/{t}": jnp.float32(0) for t in DISC_TERMS}
  for region in DISC_REGIONS:
    metrics[f"disc/real_{region}"] = metrics[f"disc/fake_{region}"] = jnp.float32(0)
  total = jnp.float32(0)
  new_state = dict(disc_state or {})
  if models.D is None:
    metrics["loss/disc_total"] = total
    return total, (new_state, metrics)
  drv = batch["driving"].astype(jnp.float32)
  fake = sg(generated["image"]).astype(jnp.float32)
  size = drv.shape[1]
  boxes = regions.landmark_boxes(batch["driving_landmarks"], batch["has_landmarks"], size,
                                 cfg.regions.box_scales.to_dict())
  crop_sizes = {"face": cfg.regions.face_crop_size, "lip": cfg.regions.lip_crop_size}
  for region, suffix in zip(DISC_REGIONS, ("", "_face", "_lip")):
    weight = term_weight(cfg, "gan" + suffix)
    if weight == 0:
      continue
    real, fk = drv, fake
    if region in crop_sizes:
      real = regions.crop_regions(drv, boxes[region], crop_sizes[region])
      fk = regions.crop_regions(fake, boxes[region], crop_sizes[region])
    out, new_state[region] = apply_module(models.D, disc_params[region], disc_state[region],
                                          interleave(real, fk), train=True)
    real_out, fake_out = deinterleave(out, 2)
    value = losses.gan_discriminator_loss(real_out, fake_out, cfg.gan_mode)
    metrics[f"loss/disc_{region}"] = value
    metrics[f"disc/real_{region}"] = jnp.mean(jnp.stack([jnp.mean(l) for _, l in real_out]))
    metrics[f"disc/fake_{region}"] = jnp.mean(jnp.stack([jnp.mean(l) for _, l in fake_out]))
    total = total + weight * value
  metrics["loss/disc_total"] = total
  return total, (new_state, metrics)


