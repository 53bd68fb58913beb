# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The landmark model as a training function (lp_jax.training.landmark_model): its crop and
output against the onnxruntime runner, the openness it measures, Stage II's condition loss
differentiated through it into the eye / lip MLPs, Stage I's Wing on data without landmarks, and
the configuration errors. Runs the synthetic landmark.onnx of the detector golden."""

import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import GOLDEN_DIR, SHARED

from lp_jax_configs import losses as loss_configs
from lp_jax_configs import models as model_configs
from lp_jax_configs import stage1 as stage1_configs
from lp_jax_configs import stage2 as stage2_configs
from lp_jax.detect.landmark203 import Landmark203
from lp_jax.models import liveportrait
from lp_jax.preprocess import crop as crop_lib
from lp_jax.training import landmark_model as landmark_lib
from lp_jax.training import regions, stage2_eval, stages
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives import stage1 as stage1_objective
from lp_jax.training.objectives import stage2 as stage2_objective

MODEL = os.path.join(GOLDEN_DIR, "detectors_seed0", "landmark.onnx")
FACES = [os.path.join(SHARED, "assets", "source", f) for f in ("s6.jpg", "s0.jpg")]
S = 64  # training-frame side of the objective tests (the micro networks')


@pytest.fixture(scope="module")
def model():
  return landmark_lib.LandmarkModel(MODEL)


@pytest.fixture(scope="module")
def runner():
  return Landmark203(MODEL)


def _rgb(path):
  return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def _tracked(runner, img):
  """203 points of `img` as the official runner tracks a first frame: whole image, then crop."""
  return runner.run(img, runner.run(img))


def _frame(runner, path, size: int = S):
  """(image [size, size, 3] float in [0, 1], its 203 landmarks in that frame's pixels)."""
  img = _rgb(path)
  lmk = _tracked(runner, img)
  small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
  return small, ((lmk + 0.5) * (size / img.shape[1]) - 0.5).astype(np.float32)


def _one_line(excinfo) -> str:
  message = str(excinfo.value)
  assert message and "\n" not in message, message
  return message


# ----------------------------------------------------------------------------- the function


def test_crop_and_landmarks_match_the_onnxruntime_runner(model, runner):
  img = _rgb(FACES[0])
  lmk = _tracked(runner, img)
  # A rolled prior: the upright crop then rotates, which exercises the whole similarity.
  c, a = lmk.mean(axis=0), np.deg2rad(20.0)
  rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
  prior = ((lmk - c) @ rot.T + c).astype(np.float32)
  official = crop_lib.crop_image(img, prior, dsize=224, scale=1.5, vy_ratio=-0.1,
                                 flag_do_rot=True)
  m_o2c, m_c2o = (np.asarray(m)[0] for m in landmark_lib.crop_matrices(prior[None]))
  np.testing.assert_allclose(m_o2c, official["M_o2c"][:2], atol=1e-3, rtol=1e-4)
  np.testing.assert_allclose(m_c2o, official["M_c2o"][:2], atol=1e-2, rtol=1e-4)

  images = jnp.asarray(img[None], jnp.float32) / 255
  crop = np.asarray(landmark_lib.affine_crop(images, m_c2o[None]))[0] * 255
  diff = np.abs(crop - official["img_crop"].astype(np.float32))
  # cv2.warpAffine rounds coordinates to 1/32 px and values to uint8.
  assert diff.mean() < 0.5 and diff.max() < 8, (diff.mean(), diff.max())

  got = np.asarray(jax.jit(model.landmarks)(images, prior[None]))[0]
  want = runner.run(img, prior)
  err = float(np.abs(got - want).max())
  print(f"landmarks vs onnxruntime, crop placed by a prior: max |error| {err:.4f} px")
  assert err < 0.5

  scratch = np.asarray(jax.jit(model.landmarks_from_scratch)(images))[0]
  err = float(np.abs(scratch - lmk).max())
  print(f"landmarks from scratch vs onnxruntime (whole image, then one crop): max {err:.4f} px")
  assert err < 0.5


def test_openness_is_the_official_ratio_of_the_landmarks(model, runner):
  frames, lmks = zip(*(_frame(runner, f, 96) for f in FACES))
  images, prior = jnp.asarray(np.stack(frames)), jnp.asarray(np.stack(lmks))
  eye, lip = jax.jit(model.openness)(images, prior)
  points = model.landmarks(images, prior)
  want_eye, want_lip = regions.landmark_ratios(points)
  assert eye.shape == (2, 2) and lip.shape == (2, 1)
  np.testing.assert_allclose(eye, want_eye, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(lip, want_lip, rtol=1e-5, atol=1e-6)
  # Samples without data landmarks take the model's own (placed from scratch); the others keep
  # theirs.
  filled = model.fill(images, prior, jnp.array([True, False]))
  np.testing.assert_array_equal(filled[0], prior[0])
  np.testing.assert_allclose(filled[1], model.landmarks_from_scratch(images)[1], atol=1e-4)


# ----------------------------------------------------------------------------- Stage II


def _batch(runner, has_landmarks):
  """Two samples of real faces at S: source / driving swapped between them."""
  (a, la), (b, lb) = (_frame(runner, f) for f in FACES)
  has = np.asarray(has_landmarks, bool)
  keep = has[:, None, None].astype(np.float32)
  return {"source": np.stack([a, b]), "driving": np.stack([b, a]),
          "is_image": np.ones((2,), bool),
          "source_landmarks": np.stack([la, lb]) * keep,
          "driving_landmarks": np.stack([lb, la]) * keep, "has_landmarks": has}


@pytest.fixture(scope="module")
def micro():
  mcfg = model_configs.get_config("micro")
  base = {n: liveportrait.random_variables(n, mcfg, i)
          for i, n in enumerate(liveportrait.BASE_NETWORKS)}
  mlps = {n: liveportrait.random_variables(n, mcfg, 3 + i)["params"]
          for i, n in enumerate(("eye", "lip"))}
  return mcfg, base, mlps


@pytest.mark.slow
def test_condition_loss_differentiates_into_the_eye_and_lip_mlps(model, runner, micro):
  mcfg, base, mlps = micro
  models = stage2_objective.Stage2Models.from_config(mcfg, landmark_model=model)
  cfg = loss_configs.get_config(2)
  cfg.network_image_size = S
  cfg.landmark_model = MODEL
  assert stage2_objective.ratio_measure(cfg) == "landmark_model"
  batch = _batch(runner, [True, False])
  # As in training: the landmark model's parameters travel with the frozen base.
  frozen = {**base, landmark_lib.NAME: model.params}

  def conditions(params):
    # Each condition is measured on its own render, which only its own MLP moves: the gradient
    # of the sum is d eye_condition / d eye MLP and d lip_condition / d lip MLP.
    _, metrics = stage2_objective.stage2_loss(models, params, frozen, batch,
                                              jax.random.key(3), cfg)
    return metrics["loss/eye_condition"] + metrics["loss/lip_condition"], metrics

  grads, metrics = jax.jit(jax.grad(conditions, has_aux=True))(mlps)
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((grads, metrics)))
  norms = {n: float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(grads[n]))))
           for n in grads}
  print(f"|d eye_condition / d eye MLP| {norms['eye']:.3e}, "
        f"|d lip_condition / d lip MLP| {norms['lip']:.3e}")
  assert norms["eye"] > 0 and norms["lip"] > 0
  assert float(metrics["loss/eye_condition"]) > 0 and float(metrics["loss/lip_condition"]) > 0
  assert float(metrics["ratio/eye_output"]) > 0 and float(metrics["ratio/lip_output"]) > 0


# ----------------------------------------------------------------------------- Stage I Wing


def test_wing_runs_on_data_without_landmarks(model, runner, micro):
  mcfg, base, _ = micro
  models = stage1_objective.Stage1Models.from_config(mcfg, landmark_model=model)
  bare = stage1_objective.Stage1Models.from_config(mcfg)
  cfg = loss_configs.get_config(1)
  cfg.network_image_size = S
  cfg.data_landmarks = False  # a folder source: Wing only with the landmark model
  assert stage1_objective.active_terms(models, cfg)["wing"] is None
  assert stage1_objective.active_terms(bare, cfg)["wing"] == "no landmarks in the data"
  assert stage1_objective.active_terms(models, cfg)["perceptual_face"] is not None
  params = {n: v["params"] for n, v in base.items()}
  state = {n: {k: c for k, c in v.items() if k != "params"} for n, v in base.items()}
  batch = _batch(runner, [False, False])

  @jax.jit
  def wing(p):
    _, (_, metrics, _) = stage1_objective.stage1_generator_loss(
        models, p, state, None, {}, batch, jax.random.key(0), cfg)
    return metrics["loss/wing"]

  value = float(wing(params))
  print(f"Stage I Wing on samples without data landmarks: {value:.3f}")
  assert np.isfinite(value) and value > 0


# ----------------------------------------------------------------------------- config errors


def test_configuration_errors_are_one_line(tmp_path):
  cfg = loss_configs.get_config(2)
  assert stage2_objective.ratio_measure(cfg) == "keypoint_gap_proxy"
  assert landmark_lib.from_loss_config(cfg) is None
  cfg.ratios.measure = "landmark_model"
  with pytest.raises(ConfigError) as e:
    stage2_objective.ratio_measure(cfg)
  assert "loss.landmark_model" in _one_line(e)
  cfg.ratios.measure = "pixels"
  with pytest.raises(ConfigError) as e:
    stage2_objective.ratio_measure(cfg)
  assert "'pixels'" in _one_line(e)

  missing = str(tmp_path / "landmark.onnx")
  for config in (stage1_configs.get_config("micro"), stage2_configs.get_config("micro")):
    config.loss.landmark_model = missing
    with pytest.raises(ConfigError) as e:
      stages.for_config(config).setup()
    assert missing in _one_line(e)

  # The landmark measure needs the models to carry the landmark model.
  cfg = loss_configs.get_config(2)
  cfg.landmark_model = MODEL
  models = stage2_objective.Stage2Models.from_config(model_configs.get_config("micro"))
  with pytest.raises(ConfigError) as e:
    stage2_objective.stage2_loss(models, {}, {}, {}, None, cfg)
  assert "landmark model" in _one_line(e)


def test_stages_carry_the_landmark_model_with_the_frozen_inputs():
  config = stage2_configs.get_config("micro")
  config.loss.landmark_model = MODEL
  setup = stages.for_config(config).setup()
  assert isinstance(setup.models.landmark_model, landmark_lib.LandmarkModel)
  base = jax.eval_shape(setup.extra_inits["base"], jax.random.key(0))
  assert set(base) == set(liveportrait.BASE_NETWORKS) | {landmark_lib.NAME}
  config = stage1_configs.get_config("micro")
  config.loss.landmark_model = MODEL
  setup = stages.for_config(config).setup()
  assert landmark_lib.NAME in setup.extra_inits
  assert setup.models.landmark_model is not None


# ----------------------------------------------------------------------------- stage2_eval


@pytest.mark.slow
def test_stage2_eval_measures_the_reached_openness_on_the_renders(model, runner, micro):
  mcfg, base, mlps = micro
  models = stage2_objective.Stage2Models.from_config(mcfg)
  cfg = loss_configs.get_config(2)
  cfg.network_image_size = S
  (a, _), (b, _) = (_frame(runner, f) for f in FACES)
  # Two clips of two frames (a face and its mirror image); chunks of 2 frames: the render pass
  # runs in chunks, with one compiled program.
  clips = [{"name": n, "frames": np.stack([x, x[:, ::-1]])} for n, x in (("a", a), ("b", b))]
  # An eye MLP at its random init moves the keypoints by ~1e-3, which the micro generator barely
  # shows: a random output bias gives it a deformation the renders (and the measure) do show.
  eye = dict(mlps["eye"])
  last = max(eye, key=lambda n: int(n.split(".")[1]))
  bias = np.random.default_rng(0).standard_normal(np.shape(eye[last]["bias"]))
  eye[last] = {**eye[last], "bias": jnp.asarray(0.3 * bias, jnp.float32)}
  variables = {**base, **mlps, "eye": eye}
  zeroed = {**variables, "eye": jax.tree.map(jnp.zeros_like, eye)}
  run = lambda v, lm=model: stage2_eval.retargeting_figures(models, v, clips, cfg, lm, chunk=2)
  proxy, got, still = run(variables, None), run(variables), run(zeroed)

  assert proxy["openness_measure"] == "keypoint_gap_proxy"
  assert got["openness_measure"] == f"landmark_model:{MODEL}"
  # The proxy's figures (and its c_s in the condition) stay as they were without the model.
  assert {k: v for k, v in got.items() if "render" not in k and k != "openness_measure"} == \
      {k: v for k, v in proxy.items() if k != "openness_measure"}
  keys = [f"{n}_render_{k}" for n in ("eye", "lip")
          for k in ["openness_error_without", "openness_error_with"] +
          [f"reached_at_{t:.1f}" for t in stage2_eval.TARGETS]]
  for k in keys:
    print(f"{k}: random eye MLP {got[k]:.4f}, zeroed {still[k]:.4f}")
    assert np.isfinite(got[k]) and 0 <= got[k] < 3, (k, got[k])
  # A zeroed eye MLP offsets nothing: every eye render is the reconstruction, whose measure is
  # the 'without' side; a random one moves the renders, hence the measured openness. The lip
  # figures do not depend on the eye MLP.
  assert still["eye_render_openness_error_with"] == pytest.approx(
      still["eye_render_openness_error_without"], abs=1e-5)
  reached = [still[f"eye_render_reached_at_{t:.1f}"] for t in stage2_eval.TARGETS]
  assert max(reached) - min(reached) < 1e-5, reached
  assert abs(got["eye_render_openness_error_with"] - still["eye_render_openness_error_with"]) > 1e-3
  assert abs(got["eye_render_reached_at_0.4"] - still["eye_render_reached_at_0.4"]) > 5e-3
  assert got["eye_render_openness_error_without"] == pytest.approx(
      still["eye_render_openness_error_without"], abs=1e-6)
  for k in keys:
    if k.startswith("lip_"):
      assert got[k] == pytest.approx(still[k], abs=1e-6), k
