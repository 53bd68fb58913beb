# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""LivePortrait's training objectives: Stage I (F, M, W, G + discriminators) and Stage II (MLPs).

Stage I (paper Sec. 3.2). Source and driving frames come from one clip. M runs once on
[source; driving; TPS-warped driving]; the driving keypoints use the *source* canonical keypoints
with the driving pose, expression, scale and translation (Eq. 2,
x_d = s_d * (x_c,s R_d + delta_d) + t_d); W warps F(source) from x_s to x_d and G renders the
driving frame. Terms (each weight in `cfg.weights`, each logged as `loss/<term>`):
perceptual(_face, _lip), gan(_face, _lip), feature_matching(_face, _lip), equivariance,
keypoint_prior, head_pose, deformation_prior, identity, wing.

Stage II (paper Sec. 3.3, Eq. 5-6). The base is frozen. Stitching: the source is driven by the
motion of another sample of the batch (cross identity) and the stitched render must keep the
source outside the faces (the shoulders), with an L1 on the stitching offset. Eye / lip
retargeting: the MLP offsets x_s to reach a requested openness ratio; the render must keep the
source outside the eye / lip boxes, with an L1 on the offset and a condition loss.

The openness of the *render* must be differentiable, so it is measured on the keypoints (our
choice: no landmark network in the loop). The Stage I Wing loss ties keypoints 11/13 and 15/16 to
the upper / lower lid mid-points and 14/17 to the inner-lip mid-points, so the lid (lip) gap of
the keypoints divided by the eye (mouth) width is a proxy of the official landmark ratio. The
output ratio is c_s + (gap(x_s + delta) - gap(x_s)) / width: only the *change* of the keypoint
gap is trusted, so a constant offset between keypoints and landmarks cancels. Widths come from
the source landmarks, or without landmarks from the keypoints' eye distance
(`eye_width_per_iod`, `mouth_width_per_iod`).
"""

import dataclasses
import functools
import inspect

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from lp_jax.models import liveportrait
from lp_jax.ops import keypoints, motion
from lp_jax.training import losses, regions, transforms

sg = jax.lax.stop_gradient
F_NAME, M_NAME, W_NAME, G_NAME = liveportrait.BASE_NETWORKS
DISC_REGIONS = ("global", "face", "lip")
STAGE1_TERMS = ("perceptual", "perceptual_face", "perceptual_lip", "gan", "gan_face", "gan_lip",
                "feature_matching", "feature_matching_face", "feature_matching_lip",
                "equivariance", "keypoint_prior", "head_pose", "deformation_prior", "identity",
                "wing")
DISC_TERMS = tuple(f"disc_{r}" for r in DISC_REGIONS)
STAGE2_TERMS = ("stitching", "stitching_delta", "eye_region", "eye_delta", "eye_condition",
                "lip_region", "lip_delta", "lip_condition")
# Which network each Stage I term needs besides F, M, W, G.
_NEEDS = {"perceptual": "vgg", "perceptual_face": "vgg", "perceptual_lip": "vgg", "gan": "D",
          "gan_face": "D", "gan_lip": "D", "feature_matching": "D", "feature_matching_face": "D",
          "feature_matching_lip": "D", "head_pose": "hopenet", "identity": "arcface"}
_AUX_KEYS = {"vgg": "vgg19", "hopenet": "hopenet", "arcface": "arcface"}


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

  @classmethod
  def from_config(cls, model_config, dtype=jnp.float32, platform: str | None = None, **aux):
    """F, M, W, G from configs/models (training form: spectral norm not folded) plus aux modules.

    `platform` selects their layer forms (liveportrait.build); default the running backend.
    """
    base = [liveportrait.build(n, model_config, dtype=dtype, platform=platform)
            for n in liveportrait.BASE_NETWORKS]
    return cls(*base, **aux)

  def networks(self) -> dict:
    return dict(zip(liveportrait.BASE_NETWORKS, (self.F, self.M, self.W, self.G)))


@dataclasses.dataclass(frozen=True)
class Stage2Models:
  """Frozen base (F, M, W, G) and the stitching / eye / lip MLPs."""
  F: nn.Module
  M: nn.Module
  W: nn.Module
  G: nn.Module
  stitching: nn.Module
  eye: nn.Module
  lip: nn.Module

  @classmethod
  def from_config(cls, model_config, dtype=jnp.float32, spectral_norm_folded: bool = False,
                  platform: str | None = None):
    base = [liveportrait.build(n, model_config, dtype=dtype,
                               spectral_norm_folded=spectral_norm_folded, platform=platform)
            for n in liveportrait.BASE_NETWORKS]
    mlps = [liveportrait.build(n, model_config) for n in ("stitching", "eye", "lip")]
    return cls(*base, *mlps)


@functools.lru_cache(maxsize=None)
def _accepts_train(module_type) -> bool:
  return "train" in inspect.signature(module_type.__call__).parameters


def apply_module(module, params, state, *args, train: bool):
  """module.apply with {'params', **state}; returns (output, new state).

  In training mode the collections of `state` (batch_stats, spectral) are mutable and come back
  updated; `train` is passed only to modules whose __call__ takes it (M has no BatchNorm).
  """
  state = dict(state or {})
  variables = {"params": params, **state}
  kwargs = {"train": train} if _accepts_train(type(module)) else {}
  if train and state:
    out, updates = module.apply(variables, *args, mutable=list(state), **kwargs)
    return out, {**state, **updates}
  return module.apply(variables, *args, **kwargs), state


def _split_variables(variables):
  variables = dict(variables)
  return variables.pop("params"), variables


def _frozen_apply(module, variables, *args):
  params, state = _split_variables(variables)
  return apply_module(module, params, state, *args, train=False)[0]


def term_weight(cfg, term: str) -> float:
  return float(cfg.weights.get(term, 0.0))


def active_terms(models, cfg) -> dict:
  """term -> None when computed, else why not ('weight 0', 'no vgg'); static (host) values."""
  out = {}
  terms = STAGE1_TERMS if isinstance(models, Stage1Models) else STAGE2_TERMS
  for term in terms:
    need = _NEEDS.get(term)
    if term_weight(cfg, term) == 0:
      out[term] = "weight 0"
    elif need is not None and getattr(models, need) is None:
      out[term] = f"no {_AUX_KEYS.get(need, 'discriminator')} network"
    else:
      out[term] = None
  return out


def describe_terms(models, cfg) -> list:
  """One line per term that is off, for the run to log once at start."""
  return [f"loss term {t} is off ({why})" for t, why in active_terms(models, cfg).items() if why]


def _motion(info):
  """Refined motion-extractor output -> dict with R added (degrees [B, 1], kp/exp [B, K, 3])."""
  info = dict(info)
  info["R"] = keypoints.get_rotation_matrix(info["pitch"], info["yaw"], info["roll"])
  return info


def _drive(canonical, info):
  """Eq. 2: x = s * (x_c R + delta) + (tx, ty, 0) with the motion of `info`."""
  return keypoints.transform_keypoint(canonical, info["R"], info["exp"], info["scale"], info["t"])


def _chunks(tree, n: int):
  """Splits every leaf of `tree` into n equal parts along axis 0."""
  parts = [dict() for _ in range(n)]
  for k, v in tree.items():
    for i, part in enumerate(jnp.split(v, n, axis=0)):
      parts[i][k] = part
  return parts


def _hopenet_degrees(logits):
  """HopeNet's 66 bins of 3 degrees: softmax expectation * 3 - 99 ([B, 66] -> [B])."""
  prob = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.sum(prob * jnp.arange(logits.shape[-1], dtype=jnp.float32), axis=-1) * 3 - 99


def _split_disc(outputs, b: int):
  """D outputs of a [first; second] batch -> (outputs of first, outputs of second)."""
  first, second = [], []
  for feats, logits in outputs:
    first.append(([f[:b] for f in feats], logits[:b]))
    second.append(([f[b:] for f in feats], logits[b:]))
  return first, second


def _landmarks_to_256(lmk, image_size: int):
  """Pixel landmarks of the S frame -> pixels of a 256 frame (Wing's w, eps are in those)."""
  return (lmk + 0.5) * (256.0 / image_size) - 0.5


def _keypoints_to_256(kp_xy):
  """[-1, 1] keypoint (x, y) -> pixels of a 256 frame (pixel i centred at i)."""
  return ((kp_xy + 1) * 256 - 1) / 2


def _render(models, params, state, f_s, x_s, x_d, train: bool, image_size: int):
  """W then G; returns the image resized to S and the updated W, G states."""
  warped, w_state = apply_module(models.W, params[0], state[0], f_s, x_d, x_s, train=train)
  image, g_state = apply_module(models.G, params[1], state[1], warped["out"], train=train)
  return losses.resize(image, image_size), (w_state, g_state)


def stage1_generator_loss(models: Stage1Models, gen_params, gen_state, disc_variables,
                          aux_variables, batch, rng, cfg):
  """Stage I generator objective.

  Args:
    models: Stage1Models.
    gen_params: dict network name -> params of F, M, W, G (differentiated).
    gen_state: dict network name -> mutable collections ({'batch_stats': ..., 'spectral': ...}).
    disc_variables: dict region ('global', 'face', 'lip') -> full D variables, or None.
    aux_variables: dict 'vgg19' / 'hopenet' / 'arcface' -> variables (missing: term off).
    batch: the DATA batch (source, driving [B, S, S, 3], landmarks, has_landmarks).
    rng: PRNG key (the TPS warp of the equivariance term).
    cfg: the loss ConfigDict (`default_loss_config(1)`).

  Returns:
    (total, (new_gen_state, metrics, generated)); metrics has 'loss/<term>' (unweighted, 0 when
    off) for every Stage I term and 'loss/total'; generated = {'image': [B, S, S, 3] frozen}.
  """
  aux_variables = aux_variables or {}
  on = {t: why is None for t, why in active_terms(models, cfg).items()}
  src = batch["source"].astype(jnp.float32)
  drv = batch["driving"].astype(jnp.float32)
  b, size = src.shape[0], src.shape[1]
  net = cfg.network_image_size
  src_n, drv_n = losses.resize(src, net), losses.resize(drv, net)
  tps = transforms.random_tps(rng, b, cfg.equivariance.sigma_affine, cfg.equivariance.sigma_tps,
                              cfg.equivariance.points_tps)
  new_state = dict(gen_state)

  f_s, new_state[F_NAME] = apply_module(models.F, gen_params[F_NAME], gen_state[F_NAME], src_n,
                                        train=True)
  # One M pass over [source; driving; warped driving]: one set of batch statistics, one call.
  m_in = jnp.concatenate([src_n, drv_n, transforms.warp_images(drv_n, tps)], axis=0)
  raw, new_state[M_NAME] = apply_module(models.M, gen_params[M_NAME], gen_state[M_NAME], m_in,
                                        train=True)
  num_kp = raw["kp"].shape[-1] // 3
  info_s, info_d, info_w = (_motion(i) for i in _chunks(keypoints.refine_kp_info(raw, num_kp), 3))
  x_s = _drive(info_s["kp"], info_s)  # [B, K, 3]
  x_d = _drive(info_s["kp"], info_d)  # source canonical keypoints, driving motion
  x_w = _drive(info_s["kp"], info_w)

  pred, (new_state[W_NAME], new_state[G_NAME]) = _render(
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
    vgg_fn = functools.partial(_frozen_apply, models.vgg, aux_variables["vgg19"])
    for suffix, (p, t) in pairs.items():
      if on["perceptual" + suffix]:
        terms["perceptual" + suffix] = losses.perceptual_loss(
            vgg_fn, p, t, tuple(cfg.perceptual.scales[suffix.strip("_") or "full"]),
            tuple(cfg.perceptual.layer_weights))

  if models.D is not None and disc_variables is not None:
    for region, suffix in zip(DISC_REGIONS, pairs):
      if not (on["gan" + suffix] or on["feature_matching" + suffix]):
        continue
      p, t = pairs[suffix]
      out = _frozen_apply(models.D, disc_variables[region], jnp.concatenate([p, sg(t)], axis=0))
      fake_out, real_out = _split_disc(out, b)
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
    yaw, pitch, roll = _frozen_apply(models.hopenet, aux_variables["hopenet"], drv)
    target = jnp.stack([_hopenet_degrees(a) for a in (yaw, pitch, roll)], axis=-1)
    pred_deg = jnp.concatenate([info_d["yaw"], info_d["pitch"], info_d["roll"]], axis=-1)
    terms["head_pose"] = losses.head_pose_loss(pred_deg, target)
  if on["identity"]:
    p, t = crops["face"]
    emb = _frozen_apply(models.arcface, aux_variables["arcface"],
                        jnp.concatenate([p, sg(t)], axis=0))
    terms["identity"] = losses.identity_loss(emb[:b], emb[b:])
  if on["wing"]:
    kp_idx = [k for k, _ in cfg.wing.pairs]
    lmk_idx = [l for _, l in cfg.wing.pairs]
    wing = functools.partial(losses.wing_loss, w=cfg.wing.w, eps=cfg.wing.eps,
                             mask=batch["has_landmarks"])
    terms["wing"] = 0.5 * (
        wing(_keypoints_to_256(x_s[:, kp_idx, :2]),
             _landmarks_to_256(batch["source_landmarks"][:, lmk_idx], size)) +
        wing(_keypoints_to_256(x_d[:, kp_idx, :2]),
             _landmarks_to_256(batch["driving_landmarks"][:, lmk_idx], size)))

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
  b, size = drv.shape[0], drv.shape[1]
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
                                          jnp.concatenate([real, fk], axis=0), train=True)
    real_out, fake_out = _split_disc(out, b)
    value = losses.gan_discriminator_loss(real_out, fake_out, cfg.gan_mode)
    metrics[f"loss/disc_{region}"] = value
    metrics[f"disc/real_{region}"] = jnp.mean(jnp.stack([jnp.mean(l) for _, l in real_out]))
    metrics[f"disc/fake_{region}"] = jnp.mean(jnp.stack([jnp.mean(l) for _, l in fake_out]))
    total = total + weight * value
  metrics["loss/disc_total"] = total
  return total, (new_state, metrics)


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


def stage2_loss(models: Stage2Models, retarget_params, base_variables, batch, rng, cfg):
  """Stage II objective of the stitching, eye and lip MLPs (paper Eq. 5-6), base frozen.

  Args:
    models: Stage2Models.
    retarget_params: dict with any of 'stitching', 'eye', 'lip' -> MLP params (differentiated);
      the terms of an absent MLP are 0.
    base_variables: dict network name -> full variables of F, M, W, G (stop_gradient'ed here).
    batch: the DATA batch.
    rng: PRNG key (random condition targets).
    cfg: the loss ConfigDict (`default_loss_config(2)`).

  Returns:
    (total, metrics) with 'loss/<term>' (unweighted) for every Stage II term, 'loss/total' and
    the mean requested / reached ratios 'ratio/<eye|lip>_<target|output>'.
  """
  base = jax.tree.map(sg, base_variables)
  src = batch["source"].astype(jnp.float32)
  drv = batch["driving"].astype(jnp.float32)
  b, size = src.shape[0], src.shape[1]
  net = cfg.network_image_size
  src_n, drv_n = losses.resize(src, net), losses.resize(drv, net)
  f_s = _frozen_apply(models.F, base[F_NAME], src_n)
  raw = _frozen_apply(models.M, base[M_NAME], jnp.concatenate([src_n, drv_n], axis=0))
  num_kp = raw["kp"].shape[-1] // 3
  info_s, info_d = (_motion(i) for i in _chunks(keypoints.refine_kp_info(raw, num_kp), 2))
  x_s = sg(_drive(info_s["kp"], info_s))
  shift = cfg.cross_identity_shift
  info_x = {k: jnp.roll(v, shift, axis=0) for k, v in info_d.items()}  # another sample's motion
  x_cross = sg(_drive(info_s["kp"], info_x))

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

  widths = _widths(x_s, batch, cfg, size)
  c_s = _ratios(x_s, batch["source_landmarks"], batch["has_landmarks"], widths, cfg)
  x_d = sg(_drive(info_s["kp"], info_d))  # same-clip driving: a realistic requested openness
  c_d = _ratios(x_d, batch["driving_landmarks"], batch["has_landmarks"], widths, cfg)
  gaps_s = _gaps(x_s, cfg)
  k_eye, k_lip = jax.random.split(rng)
  for i, (name, key) in enumerate((("eye", k_eye), ("lip", k_lip))):
    if name not in retarget_params:
      continue
    spec = cfg.ratios[name]
    # The official eye condition has one driving value for both eyes; the mean of the driving
    # eyes stands in for the official left-eye quirk.
    target = _maybe_random(key, jnp.mean(c_d[i], axis=1, keepdims=True), spec.low, spec.high,
                           cfg.ratios.random_target_prob)
    cond = jnp.concatenate([c_s[i], target], axis=1)  # [B, 3] eye, [B, 2] lip
    net_module = getattr(models, name)
    delta = net_module.apply({"params": retarget_params[name]},
                             motion.retarget_input(x_s, cond)).reshape(b, num_kp, 3)
    x_new = x_s + delta
    reached = c_s[i] + (_gaps(x_new, cfg)[i] - gaps_s[i]) / widths[i]  # [B, 2] eye, [B, 1] lip
    terms[f"{name}_delta"] = jnp.mean(jnp.abs(delta))
    terms[f"{name}_condition"] = jnp.mean(jnp.abs(reached - target))
    metrics[f"ratio/{name}_target"] = jnp.mean(target)
    metrics[f"ratio/{name}_output"] = jnp.mean(reached)
    names = ["left_eye", "right_eye"] if name == "eye" else ["lip"]
    targets.append((f"{name}_region", x_new, 1 - regions.region_mask(src_boxes, names, size)))

  if targets:
    # One W + G pass over every driven variant: [stitching; eye; lip] along the batch.
    n = len(targets)
    images = _render(models, (base[W_NAME]["params"], base[G_NAME]["params"]),
                     tuple(_split_variables(base[k])[1] for k in (W_NAME, G_NAME)),
                     jnp.tile(f_s, (n,) + (1,) * (f_s.ndim - 1)), jnp.tile(x_s, (n, 1, 1)),
                     jnp.concatenate([t[1] for t in targets], axis=0), False, size)[0]
    for (name, _, keep), image in zip(targets, jnp.split(images, n, axis=0)):
      terms[name] = losses.masked_l1(image, src, keep)

  total = jnp.asarray(sum(term_weight(cfg, t) * v for t, v in terms.items()), jnp.float32)
  metrics.update({f"loss/{t}": v for t, v in terms.items()})
  for name in ("eye", "lip"):
    metrics.setdefault(f"ratio/{name}_target", jnp.float32(0))
    metrics.setdefault(f"ratio/{name}_output", jnp.float32(0))
  metrics["loss/total"] = total
  return total, metrics


def default_loss_config(stage: int) -> ml_collections.ConfigDict:
  """The `loss` block of configs/stage{1,2}.py: weights and the settings of each term."""
  c = ml_collections.ConfigDict()
  c.network_image_size = 256  # F and M see 256 x 256 (images are resized when S differs)
  c.regions = ml_collections.ConfigDict()
  # Crop sides: the official-width discriminator (4 blocks, scales 1 and 0.5) needs >= 106 px.
  c.regions.face_crop_size = 128  # side of the face crops (perceptual, GAN, identity)
  c.regions.lip_crop_size = 128  # side of the lip crops (the lips fill ~50 px of a 256 frame)
  c.regions.box_scales = dict(regions.BOX_SCALES)  # box side / reference length per region
  if stage == 1:
    c.weights = ml_collections.ConfigDict(dict(
        perceptual=10.0,  # cascaded VGG-19 L1, whole image (face-vid2vid)
        perceptual_face=10.0,  # same on the face crop
        perceptual_lip=10.0,  # same on the lip crop
        gan=1.0,  # global discriminator, generator side
        gan_face=1.0,  # face discriminator
        gan_lip=1.0,  # lip discriminator
        feature_matching=10.0,  # L1 of discriminator features, whole image
        feature_matching_face=10.0,
        feature_matching_lip=10.0,
        equivariance=20.0,  # keypoints of a TPS-warped driving frame vs warped keypoints
        keypoint_prior=10.0,  # keypoint spread and mean depth
        head_pose=20.0,  # |M's pose - HopeNet's pose| in degrees, summed over the 3 angles
        deformation_prior=5.0,  # mean |expression delta|
        # Our choice: 1 - cosine lies in [0, 2], the scale of one GAN term; the paper gives none.
        identity=1.0,
        # Our choice: Wing in pixels of a 256 frame (~ L1 in px for big errors) averaged over
        # the 10 points; 1 keeps it well below the perceptual terms once keypoints are close.
        wing=1.0,
    ))
    c.gan_mode = "ls"  # 'ls' (face-vid2vid / FOMM) or 'hinge'
    c.perceptual = ml_collections.ConfigDict()
    c.perceptual.scales = dict(  # image pyramid per region; crops stop before VGG runs out
        full=(1.0, 0.5, 0.25, 0.125), face=(1.0, 0.5, 0.25), lip=(1.0, 0.5, 0.25))
    c.perceptual.layer_weights = (1.0, 1.0, 1.0, 1.0, 1.0)  # relu1_1 .. relu5_1
    c.equivariance = ml_collections.ConfigDict()
    c.equivariance.sigma_affine = 0.05  # std of the affine perturbation (face-vid2vid)
    c.equivariance.sigma_tps = 0.005  # std of the spline weights (face-vid2vid)
    c.equivariance.points_tps = 5  # control points per side
    c.keypoint_prior = ml_collections.ConfigDict()
    c.keypoint_prior.distance = 0.1  # squared distance below which a pair is penalised
    c.keypoint_prior.depth = 0.33  # target mean depth z of the driving keypoints
    c.wing = ml_collections.ConfigDict()
    c.wing.w = 10.0  # Wing width (pixels of a 256 frame)
    c.wing.eps = 2.0  # Wing curvature
    # (keypoint, landmark) pairs of paper Eq. 3 (our choice; the paper names no indices): the
    # official eye keypoints 11/13, 15/16 on the lid mid-points (6/18, 30/42), the lip keypoints
    # 14/17 on the inner-lip mid-points (90/102), 6/12 on the mouth corners (48/66), and 18/20
    # on one corner of each eye (0/24). Stage II's ratio proxy relies on the lid / lip pairs.
    c.wing.pairs = ((11, 6), (13, 18), (15, 30), (16, 42), (14, 90), (17, 102), (6, 48),
                    (12, 66), (18, 0), (20, 24))
  elif stage == 2:
    c.weights = ml_collections.ConfigDict(dict(
        stitching=1.0,  # L1 to the source outside both faces (shoulders), Eq. 5
        stitching_delta=1.0,  # mean |stitching offset|
        eye_region=1.0,  # L1 to the source outside the eye boxes, Eq. 6
        eye_delta=1.0,  # mean |eye offset|
        eye_condition=1.0,  # |reached eye ratio - requested|
        lip_region=1.0,  # L1 to the source outside the lip box
        lip_delta=1.0,  # mean |lip offset|
        lip_condition=1.0,  # |reached lip ratio - requested|
    ))
    c.cross_identity_shift = 1  # driving motion of sample (i - shift) mod B drives sample i
    c.ratios = ml_collections.ConfigDict()
    c.ratios.eye_keypoints = ((11, 13), (15, 16))  # (upper, lower) lid keypoints, left / right
    c.ratios.lip_keypoints = (14, 17)  # (upper, lower) inner-lip keypoints
    c.ratios.eye_width_per_iod = 0.45  # eye width / eye distance, for samples without landmarks
    c.ratios.mouth_width_per_iod = 0.8  # mouth width / eye distance, same
    c.ratios.min_width = 0.05  # floor of the widths (keypoint units; an eye is ~0.1 of a crop)
    c.ratios.random_target_prob = 0.5  # share of requests drawn uniformly instead of the driving's
    c.ratios.eye = dict(low=0.0, high=0.45)  # range of random eye requests
    c.ratios.lip = dict(low=0.0, high=0.8)  # range of random lip requests
  else:
    raise ValueError(f"stage must be 1 or 2, got {stage!r}")
  return c
