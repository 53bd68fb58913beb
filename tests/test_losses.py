# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Loss terms on hand-computable inputs, TPS warps, regions, and the jitted Stage I / II objectives.

The objectives run with small stand-in Linen modules of the AUX call signatures (defined here),
so they need no weights; one test traces them with the library's real tiny AUX networks.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lp_jax_configs import auxiliary as aux_configs
from lp_jax_configs import losses as loss_configs
from lp_jax_configs import models as model_configs
from lp_jax.models import auxiliary, liveportrait
from lp_jax.ops import motion as motion_lib
from lp_jax.ops import resize
from lp_jax.training import losses, regions, transforms
from lp_jax.training.objectives import stage1 as stage1_objective
from lp_jax.training.objectives import stage2 as stage2_objective

S = 64  # data resolution of the objective tests; the micro networks see it too


# ----------------------------------------------------------------------------- stand-ins


class TinyVgg(nn.Module):
  """Vgg19 stand-in: five feature maps, each level at half the resolution of the previous."""

  @nn.compact
  def __call__(self, x):
    feats = []
    for i, width in enumerate((4, 4, 8, 8, 8)):
      if i:
        x = nn.avg_pool(x, (2, 2), (2, 2))
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      feats.append(x)
    return tuple(feats)


class TinyHopeNet(nn.Module):
  """HopeNet stand-in: (yaw, pitch, roll) logits [B, 66]."""

  @nn.compact
  def __call__(self, x):
    h = jnp.mean(x, axis=(1, 2))
    return tuple(nn.Dense(66)(h) for _ in range(3))


class TinyArcFace(nn.Module):
  """ArcFace stand-in: [B, 16] embedding."""

  @nn.compact
  def __call__(self, x):
    return nn.Dense(16)(jnp.mean(nn.relu(nn.Conv(8, (3, 3), (2, 2))(x)), axis=(1, 2)))


class TinyDiscriminator(nn.Module):
  """MultiScaleDiscriminator stand-in: per scale (features, logits [B, h, w, 1]); BatchNorm
  gives it a mutable collection like a spectral-norm discriminator's."""
  scales: tuple = (1.0, 0.5)

  @nn.compact
  def __call__(self, x, train: bool = False):
    outs = []
    for s in self.scales:
      h = resize.resize(x, int(x.shape[1] * s))
      f1 = nn.leaky_relu(nn.Conv(4, (3, 3), (2, 2))(h), 0.2)
      f1 = nn.BatchNorm(use_running_average=not train)(f1)
      f2 = nn.leaky_relu(nn.Conv(8, (3, 3), (2, 2))(f1), 0.2)
      outs.append(([f1, f2], nn.Conv(1, (3, 3))(f2)))
    return outs


# ----------------------------------------------------------------------------- loss terms


def test_wing_loss_exact():
  w, eps = 10.0, 2.0
  pred = jnp.array([[[1.0, 0.0], [0.0, 20.0]]])
  target = jnp.zeros((1, 2, 2))
  c = w - w * np.log(1 + w / eps)
  expected = ((w * np.log(1 + 1 / eps)) + (20 - c)) / 2  # sum over xy, mean over points
  np.testing.assert_allclose(losses.wing_loss(pred, target, w, eps), expected, rtol=1e-6)
  # Continuous at |x| = w, and the mask drops samples.
  np.testing.assert_allclose(losses.wing(jnp.float32(w - 1e-4)), losses.wing(jnp.float32(w)),
                             atol=1e-3)
  two = jnp.concatenate([pred, pred + 100], axis=0)
  np.testing.assert_allclose(losses.wing_loss(two, jnp.zeros((2, 2, 2)), mask=[True, False]),
                             expected, rtol=1e-6)
  assert float(losses.wing_loss(two, jnp.zeros((2, 2, 2)), mask=[False, False])) == 0.0


def test_keypoint_prior_exact():
  kp = jnp.array([[[0.0, 0.0, 0.3], [0.2, 0.0, 0.3], [1.0, 1.0, 0.6]]])
  # One close pair: |d|^2 = 0.04 -> 0.1 - 0.04 = 0.06, counted for both orders; mean z = 0.4.
  np.testing.assert_allclose(losses.keypoint_prior_loss(kp), 2 * 0.06 + abs(0.4 - 0.33),
                             rtol=1e-5)


def test_simple_terms_exact():
  np.testing.assert_allclose(losses.deformation_prior_loss(jnp.full((2, 21, 3), -0.5)), 0.5)
  pred = jnp.array([[10.0, 0.0, -5.0], [0.0, 0.0, 0.0]])
  np.testing.assert_allclose(losses.head_pose_loss(pred, jnp.zeros((2, 3))), 7.5)
  a = jnp.array([[1.0, 0.0], [1.0, 0.0]])
  b = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  np.testing.assert_allclose(losses.identity_loss(a, b), 0.5, atol=1e-7)
  mask = jnp.zeros((1, 2, 2, 1)).at[0, 0, 0].set(1)
  np.testing.assert_allclose(losses.masked_l1(jnp.ones((1, 2, 2, 3)), jnp.zeros((1, 2, 2, 3)),
                                              mask), 0.25)


def test_gan_terms_exact():
  real = [([jnp.ones((1, 2, 2, 1))], jnp.full((1, 2, 2, 1), 0.5))]
  fake = [([jnp.zeros((1, 2, 2, 1))], jnp.full((1, 2, 2, 1), -0.5))]
  np.testing.assert_allclose(losses.gan_generator_loss(fake, "ls"), 2.25)
  np.testing.assert_allclose(losses.gan_generator_loss(fake, "hinge"), 0.5)
  np.testing.assert_allclose(losses.gan_discriminator_loss(real, fake, "ls"), 0.25 + 0.25)
  np.testing.assert_allclose(losses.gan_discriminator_loss(real, fake, "hinge"), 0.5 + 0.5)
  np.testing.assert_allclose(losses.feature_matching_loss(real, fake), 1.0)
  # Plain logit lists work too, and the real side gets no gradient.
  g = jax.grad(lambda r: losses.gan_generator_loss([r], "ls"))(jnp.zeros((1, 2, 2, 1)))
  np.testing.assert_allclose(g, -0.5 * jnp.ones((1, 2, 2, 1)))
  g_real = jax.grad(lambda r: losses.feature_matching_loss([([r], r)], fake))(real[0][0][0])
  assert not np.any(g_real)


def test_perceptual_loss_exact():
  # An identity "VGG" with two maps: the image and its mean; scales 1 and 0.5 of constants.
  fn = lambda x: (x, jnp.mean(x, axis=-1, keepdims=True))
  pred, target = jnp.full((1, 4, 4, 3), 0.75), jnp.full((1, 4, 4, 3), 0.25)
  value = losses.perceptual_loss(fn, pred, target, scales=(1.0, 0.5), layer_weights=(1.0, 2.0))
  np.testing.assert_allclose(value, 2 * (0.5 + 2 * 0.5), rtol=1e-6)
  grad = jax.grad(lambda t: losses.perceptual_loss(fn, pred, t, (1.0,), (1.0, 1.0)))(target)
  assert not np.any(grad)  # the target is frozen


# ----------------------------------------------------------------------------- TPS


def test_tps_identity_and_equivariance():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.uniform(size=(2, 16, 12, 3)), jnp.float32)
  ident = transforms.random_tps(jax.random.key(0), 2, sigma_affine=0.0, sigma_tps=0.0)
  warp = jax.jit(transforms.warp_images)
  np.testing.assert_allclose(warp(images, ident), images, atol=1e-5)
  pts = jnp.asarray(rng.uniform(-1, 1, size=(2, 7, 2)), jnp.float32)
  np.testing.assert_allclose(transforms.warp_points(ident, pts), pts, atol=1e-6)
  assert float(losses.equivariance_loss(pts, pts, ident)) < 1e-6
  # A pure shift by one pixel: the warped image's pixel p shows the original at p + 1 px.
  tps = transforms.identity_tps(1)
  tps = tps._replace(theta=tps.theta.at[0, 0, 2].set(2.0 / 12))
  warped = warp(images[:1], tps)
  np.testing.assert_allclose(warped[0, :, :-1], images[0, :, 1:], atol=1e-5)
  # Keypoint loss: a keypoint at p in the warped image matches T(p) in the original.
  np.testing.assert_allclose(losses.equivariance_loss(pts[:1] + jnp.array([2.0 / 12, 0]),
                                                      pts[:1], tps), 0.0, atol=1e-6)
  tps = transforms.random_tps(jax.random.key(1), 2)
  out = transforms.warp_points(tps, pts)
  assert out.shape == (2, 7, 2) and 1e-4 < float(jnp.max(jnp.abs(out - pts))) < 0.5


def test_tps_warp_mirrors_at_the_border():
  """A shift reveals the frame mirrored at its edge, not a black band the keypoints could read."""
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.uniform(0.1, 1.0, size=(1, 8, 12, 3)), jnp.float32)
  tps = transforms.identity_tps(1)
  tps = tps._replace(theta=tps.theta.at[0, 0, 2].set(2 * 2.0 / 12))  # 2 px to the left
  warped = transforms.warp_images(images, tps)
  np.testing.assert_allclose(warped[0, :, :-2], images[0, :, 2:], atol=1e-5)
  # Output columns 10 and 11 read x = 12.5 and 13.5 (pixel units), past the right edge at 12:
  # mirrored there, they read 11.5 and 10.5, the centres of columns 11 and 10.
  np.testing.assert_allclose(warped[0, :, 10], images[0, :, 11], atol=1e-5)
  np.testing.assert_allclose(warped[0, :, 11], images[0, :, 10], atol=1e-5)
  np.testing.assert_allclose(transforms.reflect_coordinates(jnp.array([-1.2, -1.0, 0.3, 1.0, 1.2,
                                                                        3.5])),
                             [-0.8, -1.0, 0.3, 1.0, 0.8, -0.5], atol=1e-6)


# ----------------------------------------------------------------------------- regions


def _landmarks(b, size):
  """Synthetic 203-point landmarks with the documented eye / mouth points of a centred face."""
  lmk = np.zeros((b, 203, 2), np.float32)
  lmk[:] = size * 0.5
  u = size / 64.0
  for base, cx in ((0, 24), (24, 40)):  # eyes: corners +-5, lids +-2 (ratio 4 / 10)
    lmk[:, base + 0] = (cx - 5, 26)
    lmk[:, base + 12] = (cx + 5, 26)
    lmk[:, base + 6] = (cx, 24)
    lmk[:, base + 18] = (cx, 28)
  lmk[:, 48], lmk[:, 66] = (26, 44), (38, 44)  # mouth corners
  lmk[:, 90], lmk[:, 102] = (32, 43), (32, 46)  # inner lips (ratio 3 / 12)
  lmk[:, 150], lmk[:, 151] = (14, 10), (50, 56)  # face extent
  return lmk * np.float32(u)


def test_regions_boxes_crops_masks():
  b = 2
  lmk = jnp.asarray(_landmarks(b, S))
  has = jnp.array([True, False])
  boxes = jax.jit(regions.landmark_boxes, static_argnums=2)(lmk, has, S)
  assert set(boxes) == {"face", "lip", "left_eye", "right_eye"}
  lip = np.asarray(boxes["lip"][0]) * S
  np.testing.assert_allclose((lip[0] + lip[2]) / 2, 32.5, atol=1e-4)  # centre of 48/66/90/102
  np.testing.assert_allclose(lip[2] - lip[0], 1.6 * 12, rtol=1e-5)
  np.testing.assert_allclose(boxes["face"][1], regions.FALLBACK_BOXES["face"])
  eye, lip_ratio = regions.landmark_ratios(lmk)
  np.testing.assert_allclose(eye[0], [0.4, 0.4], rtol=1e-5)
  np.testing.assert_allclose(lip_ratio[0], [0.25], rtol=1e-5)

  crop = jax.jit(regions.crop_regions, static_argnums=2)
  images = jnp.asarray(np.random.default_rng(0).uniform(size=(b, S, S, 3)), jnp.float32)
  assert crop(images, boxes["lip"], 16).shape == (b, 16, 16, 3)
  # The whole-image box at full size reproduces the image.
  full = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0, 1.0]), (b, 4))
  np.testing.assert_allclose(crop(images, full, S), images, atol=1e-5)
  grads = jax.jit(jax.grad(lambda x, bx: jnp.sum(regions.crop_regions(x, bx, 8)), (0, 1)))
  g_img, g_box = grads(images, boxes["face"])
  assert float(jnp.sum(g_img)) > 0 and np.all(np.isfinite(g_box)) and np.any(g_box)
  mask = regions.box_mask(jnp.array([[0.25, 0.5, 0.75, 1.0]]), 4)
  np.testing.assert_array_equal(mask[0, :, :, 0], [[0, 0, 0, 0], [0, 0, 0, 0],
                                                   [0, 1, 1, 0], [0, 1, 1, 0]])
  union = regions.region_mask(boxes, ["left_eye", "right_eye"], S)
  assert union.shape == (b, S, S, 1) and 0 < float(jnp.mean(union)) < 0.2


def test_keypoint_ratio_proxy():
  """Stage II openness from keypoints: lid gaps, widths from landmarks or the eye distance."""
  cfg = loss_configs.get_config(2)
  x = jnp.zeros((2, 21, 3))
  x = x.at[:, 11].set([-0.2, -0.1, 0.0]).at[:, 13].set([-0.2, -0.06, 0.0])  # left gap 0.04
  x = x.at[:, 15].set([0.2, -0.11, 0.0]).at[:, 16].set([0.2, -0.05, 0.0])  # right gap 0.06
  x = x.at[:, 14].set([0.0, 0.3, 0.0]).at[:, 17].set([0.0, 0.33, 0.0])  # lip gap 0.03
  eye_gap, lip_gap = stage2_objective._gaps(x, cfg)
  np.testing.assert_allclose(eye_gap[0], [0.04, 0.06], atol=1e-6)
  np.testing.assert_allclose(lip_gap[0], [0.03], atol=1e-6)
  batch = {"source_landmarks": jnp.asarray(_landmarks(2, S)),
           "has_landmarks": jnp.array([True, False])}
  eye_w, lip_w = stage2_objective._widths(x, batch, cfg, S)
  np.testing.assert_allclose(eye_w[0], [10 * 2 / S] * 2, rtol=1e-5)  # landmark eye width 10 px
  np.testing.assert_allclose(lip_w[0], [12 * 2 / S], rtol=1e-5)
  # Without landmarks: the lid centres are 0.4 apart (eye distance).
  np.testing.assert_allclose(eye_w[1], [0.4 * cfg.ratios.eye_width_per_iod] * 2, rtol=1e-5)
  np.testing.assert_allclose(lip_w[1], [0.4 * cfg.ratios.mouth_width_per_iod], rtol=1e-5)


# ----------------------------------------------------------------------------- objectives


@pytest.fixture(scope="module")
def micro_setup():
  return make_micro_setup()


def make_micro_setup():
  """(model config, Stage1Models with stand-in aux nets, F/M/W/G, aux and D variables)."""
  # The training tests' micro networks: every term and every network of the objectives runs
  # (compiled, differentiated) at a fraction of the tiny networks' compile and step time.
  mcfg = model_configs.get_config("micro")
  models1 = stage1_objective.Stage1Models.from_config(
      mcfg, D=TinyDiscriminator(), vgg=TinyVgg(), hopenet=TinyHopeNet(), arcface=TinyArcFace())
  keys = jax.random.split(jax.random.key(0), 8)
  # Host-side random weights: compiling `init` of W and G alone costs more than the tests.
  gen_vars = {n: liveportrait.random_variables(n, mcfg, i)
              for i, n in enumerate(liveportrait.BASE_NETWORKS)}
  x = jnp.zeros((1, S, S, 3))
  aux = {"vgg19": TinyVgg().init(keys[4], x), "hopenet": TinyHopeNet().init(keys[5], x),
         "arcface": TinyArcFace().init(keys[6], x)}
  disc = {r: TinyDiscriminator().init(k, x) for r, k in
          zip(stage1_objective.DISC_REGIONS, jax.random.split(keys[7], 3))}
  return mcfg, models1, gen_vars, aux, disc


def make_batch(b: int, has_landmarks: bool, seed: int = 0) -> dict:
  """A DATA-schema batch of random frames at S with synthetic landmarks."""
  rng = np.random.default_rng(seed)
  lmk = _landmarks(b, S)
  return {
      "source": rng.uniform(size=(b, S, S, 3)).astype(np.float32),
      "driving": rng.uniform(size=(b, S, S, 3)).astype(np.float32),
      "is_image": np.zeros((b,), bool),
      "source_landmarks": lmk * has_landmarks,
      "driving_landmarks": (lmk + np.float32(0.5)) * has_landmarks,
      "has_landmarks": np.full((b,), has_landmarks),
  }


def _split(variables):
  params = {n: v["params"] for n, v in variables.items()}
  state = {n: {k: c for k, c in v.items() if k != "params"} for n, v in variables.items()}
  return params, state


def _finite(tree):
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree))


def _stage1_cfg():
  cfg = loss_configs.get_config(1)
  cfg.network_image_size = S
  cfg.weights.pixel = 1.0  # every term on
  cfg.regions.face_crop_size = 32
  cfg.regions.lip_crop_size = 16
  cfg.perceptual.scales = dict(full=(1.0, 0.5), face=(1.0,), lip=(1.0,))
  return cfg


def test_default_configs_and_term_reporting(micro_setup):
  _, models1, *_ = micro_setup
  cfg = loss_configs.get_config(1)
  assert set(cfg.weights) == set(stage1_objective.STAGE1_TERMS)
  assert cfg.weights.perceptual == 10 and cfg.weights.equivariance == 20
  # Wing pairs each keypoint with a landmark of its own region: the official eye keypoints with
  # eye landmarks (0-47), the official lip keypoints with lip landmarks (from 48).
  assert len(cfg.wing.pairs) == 9
  for kp, lmk in cfg.wing.pairs:
    assert (kp in motion_lib.EYES_IDX and lmk < 48) or (kp in motion_lib.LIP_IDX and lmk >= 48)
  assert set(loss_configs.get_config(2).weights) == set(stage2_objective.STAGE2_TERMS)
  bare = stage1_objective.Stage1Models(models1.F, models1.M, models1.W, models1.G)
  lines = stage1_objective.describe_terms(bare, cfg)
  assert "loss term perceptual is off (no vgg19 network)" in lines
  assert "loss term head_pose is off (no hopenet network)" in lines
  assert stage1_objective.describe_terms(models1, cfg) == ["loss term pixel is off (weight 0)"]
  cfg.data_landmarks = False  # a folder source: no landmarks, so no Wing and no region crops
  lines = stage1_objective.describe_terms(models1, cfg)
  assert "loss term wing is off (no landmarks in the data)" in lines
  assert "loss term perceptual_lip is off (no landmarks in the data)" in lines
  assert len(lines) == 1 + len(stage1_objective.NEEDS_LANDMARKS)
  with pytest.raises(ValueError):
    loss_configs.get_config(3)


def _sgd(params, grads, lr):
  """A plain gradient step, normalised per leaf so one lr suits every network."""
  return jax.tree.map(lambda p, g: p - lr * g / (1e-12 + jnp.sqrt(jnp.mean(g * g))), params,
                      grads)


@pytest.mark.slow
def test_stage1_jit_grad_and_sgd(micro_setup):
  _, models1, gen_vars, aux, disc = micro_setup
  batch = make_batch(1, has_landmarks=True)
  cfg = _stage1_cfg()
  params, state = _split(gen_vars)
  disc_params, disc_state = _split(disc)

  def gen_loss(p, st, rng):
    return stage1_objective.stage1_generator_loss(models1, p, st, disc, aux, batch, rng, cfg)

  grad_fn = jax.jit(jax.value_and_grad(gen_loss, has_aux=True))
  rng = jax.random.key(1)
  (total, (new_state, metrics, generated)), grads = grad_fn(params, state, rng)
  assert {f"loss/{t}" for t in stage1_objective.STAGE1_TERMS} | {"loss/total"} <= set(metrics)
  assert _finite((total, metrics, grads, new_state))
  for t in stage1_objective.STAGE1_TERMS:
    assert float(metrics[f"loss/{t}"]) > 0, t  # every term computed (all aux present)
  assert generated["image"].shape == (1, S, S, 3)
  # F and W BatchNorm statistics and G's spectral-norm vectors advance in training mode.
  for name in ("appearance_feature_extractor", "warping_module", "spade_generator"):
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state[name], new_state[name])
    assert any(jax.tree.leaves(moved)), name
  for name, g in grads.items():
    assert float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(g))) > 0, name

  disc_fn = jax.jit(jax.value_and_grad(
      lambda dp, ds: stage1_objective.stage1_discriminator_loss(models1, dp, ds, generated,
                                                                batch, None, cfg), has_aux=True))
  (d_total, (d_state, d_metrics)), d_grads = disc_fn(disc_params, disc_state)
  assert {f"loss/{t}" for t in stage1_objective.DISC_TERMS} | {"loss/disc_total"} <= set(d_metrics)
  assert _finite((d_total, d_metrics, d_grads)) and float(d_total) > 0
  assert set(d_state) == set(stage1_objective.DISC_REGIONS)

  # A plain gradient step on the one batch (same warp) lowers the generator loss by over 10%.
  (after, _), _ = grad_fn(_sgd(params, grads, 1e-4), new_state, rng)
  assert float(after) < 0.9 * float(total), (float(total), float(after))


def test_stage1_without_aux_networks(micro_setup):
  """No D / VGG / HopeNet / ArcFace: the terms are off but still reported (traced only)."""
  _, models1, gen_vars, _, _ = micro_setup
  bare = stage1_objective.Stage1Models(models1.F, models1.M, models1.W, models1.G)
  cfg = ml_collections.FrozenConfigDict(_stage1_cfg())  # TRAIN passes a frozen (hashable) copy
  params, state = _split(gen_vars)
  batch = make_batch(2, has_landmarks=False)
  total, (_, metrics, generated) = jax.eval_shape(
      lambda p: stage1_objective.stage1_generator_loss(bare, p, state, None, None, batch,
                                                       jax.random.key(0), cfg), params)
  assert total.shape == () and generated["image"].shape == (2, S, S, 3)
  assert {f"loss/{t}" for t in stage1_objective.STAGE1_TERMS} | {"loss/total"} <= set(metrics)
  disc_total, (_, d_metrics) = stage1_objective.stage1_discriminator_loss(
      bare, {}, {}, {"image": jnp.zeros((2, S, S, 3))}, batch, None, cfg)
  assert float(disc_total) == 0.0
  assert all(float(d_metrics[f"loss/{t}"]) == 0.0 for t in stage1_objective.DISC_TERMS)


@pytest.mark.slow
def test_stage2_jit_grad_and_sgd(micro_setup):
  # Batch 1 without landmarks (the keypoint-proxy path); the cross-identity roll is then the
  # identity, which the objective allows.
  mcfg, _, gen_vars, _, _ = micro_setup
  batch = make_batch(1, has_landmarks=False, seed=1)
  models2 = stage2_objective.Stage2Models.from_config(mcfg)
  cfg = loss_configs.get_config(2)
  cfg.network_image_size = S
  mlp = {n: liveportrait.random_variables(n, mcfg, i)["params"]
         for i, n in enumerate(("stitching", "eye", "lip"))}
  grad_fn = jax.jit(jax.value_and_grad(
      lambda p, rng: stage2_objective.stage2_loss(models2, p, gen_vars, batch, rng, cfg),
      has_aux=True))
  rng = jax.random.key(4)
  (total, metrics), grads = grad_fn(mlp, rng)
  assert {f"loss/{t}" for t in stage2_objective.STAGE2_TERMS} | {"loss/total"} <= set(metrics)
  assert _finite((total, metrics, grads))
  for t in stage2_objective.STAGE2_TERMS:
    assert float(metrics[f"loss/{t}"]) > 0, t
  for n in mlp:
    assert float(sum(jnp.sum(jnp.abs(g)) for g in jax.tree.leaves(grads[n]))) > 0, n
  (after, after_metrics), _ = grad_fn(_sgd(mlp, grads, 1e-4), rng)
  assert float(after) < float(total), (float(total), float(after), after_metrics)


def test_stage1_traces_with_real_tiny_aux_networks(micro_setup):
  """The AUX networks (configs/auxiliary 'tiny') fit the objectives: traced, not compiled."""
  acfg = aux_configs.get_config("tiny")
  mcfg, _, gen_vars, _, _ = micro_setup
  kinds = {"vgg": "vgg19", "hopenet": "hopenet", "arcface": "arcface", "D": "discriminator"}
  models1 = stage1_objective.Stage1Models.from_config(
      mcfg, **{field: auxiliary.build(kind, acfg) for field, kind in kinds.items()})
  aux = {k: auxiliary.abstract_variables(k, acfg) for k in auxiliary.PRETRAINED_KINDS}
  d_vars = auxiliary.abstract_variables("discriminator", acfg)
  disc = {r: d_vars for r in stage1_objective.DISC_REGIONS}
  cfg = _stage1_cfg()
  # The tiny discriminator needs >= 50 px a side at its 0.5 scale.
  cfg.regions.face_crop_size = cfg.regions.lip_crop_size = 64
  params, state = _split(gen_vars)
  batch = make_batch(2, has_landmarks=True)
  # Abstract variables are arguments of eval_shape (they cannot be closed over).
  total, (new_state, metrics, generated) = jax.eval_shape(
      lambda p, dv, av: stage1_objective.stage1_generator_loss(models1, p, state, dv, av,
                                                               batch, jax.random.key(0), cfg),
      params, disc, aux)
  assert total.shape == () and set(new_state) == set(params)
  assert {f"loss/{t}" for t in stage1_objective.STAGE1_TERMS} <= set(metrics)
  assert not stage1_objective.describe_terms(models1, cfg)
  d_params, d_state = _split(disc)
  d_total, (d_new_state, d_metrics) = jax.eval_shape(
      lambda dp, ds, gen: stage1_objective.stage1_discriminator_loss(
          models1, dp, ds, gen, batch, None, cfg), d_params, d_state, generated)
  assert d_total.shape == () and "spectral" in d_new_state["lip"]
  assert {f"loss/{t}" for t in stage1_objective.DISC_TERMS} <= set(d_metrics)
