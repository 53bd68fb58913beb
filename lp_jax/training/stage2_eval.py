# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""What a Stage II run changed, on the held-out clips: stitching and eye / lip retargeting.

  python -m lp_jax.training.stage2_eval --workdir runs/train-demo-stage2

- Stitching, cross identity: the first frame of each held-out clip is driven by the frames of
  the other held-out clips, with relative motion (inference's default) and with absolute motion
  (the driver's own pose, expression and position, as the Stage II objective pairs them). The
  error outside the face box (the region Eq. 5 keeps) is measured with stitching off and on,
  against the source image and against the reconstruction D(W(f_s; x_s, x_s)) that Eq. 5
  compares with.
- Retargeting: the source keypoints of each held-out frame are sent to requested eye and lip
  openness values (0, 0.2, ..., 0.8) and the reached openness is compared with the request,
  and with the source's own openness (no retargeting). Two measures of the reached openness:
  * the keypoint-gap proxy of the Stage II objective (always; keys `{eye|lip}_openness_*`,
    `{eye|lip}_reached_at_*`): c_s + the change of the keypoints' lid / lip gap over the
    eye / mouth width, with the proxy's c_s in the MLP condition; cheap, and comparable across
    runs whatever measure they trained with;
  * with a landmark model (`--landmark_model`, default the run's `loss.landmark_model`; keys
    `{eye|lip}_render_*`): LivePortrait's landmark.onnx (lp_jax.training.landmark_model)
    measures the official ratio on the render D(W(f_s; x_s, x_s + delta)), as Eq. 6 and the
    Stage II objective with that measure do, the crop placed by the source frame's landmarks
    (the model's own estimate: held-out frames have no data landmarks). c_s in the MLP
    condition is then the model's measure of the source frame, as in training; the source's own
    openness is measured on the reconstruction D(W(f_s; x_s, x_s)), so that both sides of the
    comparison go through the generator.

Prints one JSON line with the figures (and writes it to WORKDIR/stage2_eval.json).
"""

import argparse
import collections
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax import data
from lp_jax.errors import UserError, report
from lp_jax.models import liveportrait
from lp_jax.ops import keypoints, motion, resize
from lp_jax.training import evaluate, regions, workdir_config
from lp_jax.training import landmark_model as landmark_lib
from lp_jax.training import variables as variables_lib
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives import stage2 as stage2_objective
from lp_jax.training.objectives.common import input_sizes, render

F, M, W, G = liveportrait.BASE_NETWORKS
TARGETS = (0.0, 0.2, 0.4, 0.6, 0.8)
CHUNK = 32  # frames per W + G + landmark-model pass: bounds the memory of full-size networks


def _info(models, variables, frames, size):
  raw = models.M.apply(variables[M], resize.resize(frames, size))
  return keypoints.with_rotation(keypoints.refine_kp_info(raw, models.M.num_kp))


def _render(models, variables, f_s, x_s, x_d, image_size):
  b = x_d.shape[0]
  (w_params, w_state), (g_params, g_state) = (variables_lib.split_variables(variables[n])
                                              for n in (W, G))
  return render(models, (w_params, g_params), (w_state, g_state),
                jnp.broadcast_to(f_s, (b,) + f_s.shape[1:]),
                jnp.broadcast_to(x_s, x_d.shape), x_d, False, image_size)[0]


def _outside_face_l1(out, target, keep) -> list[float]:
  err = jnp.sum(jnp.abs(out - target) * keep, axis=(1, 2, 3)) / (3 * jnp.sum(keep) + 1e-6)
  return np.asarray(err).tolist()


def stitching_figures(models, variables, clips, cfg) -> dict:
  """Mean L1 outside the face boxes, stitching off vs on, over cross pairs, for relative and
  absolute motion: against the source image, and against the reconstruction
  I_p,recon = D(W(f_s; x_s, x_s)) that Eq. 5 compares with (the motion's own error, without the
  base model's blur)."""
  net, motion_net = input_sizes(cfg)
  errors = collections.defaultdict(list)
  for i, src_clip in enumerate(clips):
    source = jnp.asarray(src_clip["frames"][:1])
    size = source.shape[1]
    info_s = _info(models, variables, source, motion_net)
    x_s = keypoints.apply_motion(info_s["kp"], info_s)
    f_s = models.F.apply(variables[F], resize.resize(source, net))
    boxes = regions.landmark_boxes(jnp.zeros((1, 203, 2)), jnp.zeros((1,), bool), size,
                                   cfg.regions.box_scales.to_dict())
    keep = 1 - regions.region_mask(boxes, ["face"], size)
    recon = _render(models, variables, f_s, x_s, x_s, size)
    for j, drv_clip in enumerate(clips):
      if i == j:
        continue
      drv = jnp.asarray(drv_clip["frames"])
      info_d = _info(models, variables, drv, motion_net)
      info_0 = {k: v[:1] for k, v in info_d.items()}
      for mode, relative in (("", True), ("absolute_", False)):
        x_d = motion.driving_keypoints(info_s, info_d, info_0, relative=relative)
        delta = models.stitching.apply({"params": variables["stitching"]},
                                       motion.stitching_input(x_s, x_d))
        for name, xd in (("off", x_d), ("on", motion.apply_stitching(x_d, delta))):
          out = _render(models, variables, f_s, x_s, xd, size)
          errors[f"stitching_{mode}outside_face_l1_{name}"].extend(
              _outside_face_l1(out, source, keep))
          errors[f"stitching_{mode}outside_face_l1_vs_recon_{name}"].extend(
              _outside_face_l1(out, recon, keep))
  result = {k: float(np.mean(v)) for k, v in sorted(errors.items())}
  result["stitching_pairs_frames"] = len(errors["stitching_outside_face_l1_on"])
  return result


def _render_openness(models, lm, variables, lm_params, f_s, x_s, x_d, placed, size):
  """(eye [B, 2], lip [B, 1]) openness measured by `lm` on D(W(f_s; x_s, x_d)), the crop placed
  by `placed` [B, 203, 2]."""
  return lm.openness(_render(models, variables, f_s, x_s, x_d, size), placed, lm_params)


# One compiled program for every request and region (models and lm are hashable); the weights are
# arguments, not constants of the program.
_render_openness_jit = jax.jit(_render_openness, static_argnums=(0, 1, 8))
_from_scratch_jit = jax.jit(lambda lm, params, images: lm.landmarks_from_scratch(images, params),
                            static_argnums=0)
_openness_jit = jax.jit(lambda lm, params, images, placed: lm.openness(images, placed, params),
                        static_argnums=0)


def _chunked(fn, chunk: int, *arrays):
  """fn over `chunk`-frame slices of the batch-major `arrays`, outputs concatenated."""
  b = arrays[0].shape[0]
  outs = [fn(*(a[i:i + chunk] for a in arrays)) for i in range(0, b, chunk)]
  return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *outs)


def _requests(models, variables, x_s, c_s):
  """{(name, target): x_s + delta}: the keypoints the eye / lip MLPs retarget to each request,
  conditioned on the source's openness c_s (eye [B, 2], lip [B, 1])."""
  b = x_s.shape[0]
  out = {}
  for i, name in enumerate(("eye", "lip")):
    for target in TARGETS:
      cond = jnp.concatenate([c_s[i], jnp.full((b, 1), target, jnp.float32)], axis=1)
      delta = getattr(models, name).apply({"params": variables[name]},
                                          motion.retarget_input(x_s, cond)).reshape(x_s.shape)
      out[name, target] = x_s + delta
  return out


def _render_figures(models, variables, frames, x_s, cfg, lm, chunk: int) -> dict:
  """The openness reached on the renders, measured by the landmark model `lm` (Eq. 6)."""
  net = input_sizes(cfg)[0]
  size = frames.shape[1]
  wg = {n: variables[n] for n in (W, G)}
  lm_params = lm.params
  # Held-out frames have no data landmarks: the model's own estimate places every crop, as the
  # objective does for samples without any.
  placed = _chunked(lambda f: _from_scratch_jit(lm, lm_params, f), chunk, frames)
  # The MLP condition: the source frame's openness by the same measure, as training with it feeds.
  c_s = _chunked(lambda *a: _openness_jit(lm, lm_params, *a), chunk, frames, placed)
  f_s = _chunked(lambda f: models.F.apply(variables[F], resize.resize(f, net)), chunk, frames)

  def measure(x_d):
    return _chunked(lambda *a: _render_openness_jit(models, lm, wg, lm_params, *a, size), chunk,
                    f_s, x_s, x_d, placed)

  own = measure(x_s)  # the reconstruction's openness: the source side, through the generator
  reached = {k: measure(x) for k, x in _requests(models, variables, x_s, c_s).items()}
  out = {}
  for i, name in enumerate(("eye", "lip")):
    before, after = [], []
    for target in TARGETS:
      r = reached[name, target][i]
      before.append(float(jnp.mean(jnp.abs(own[i] - target))))
      after.append(float(jnp.mean(jnp.abs(r - target))))
      out[f"{name}_render_reached_at_{target:.1f}"] = float(jnp.mean(r))
    out[f"{name}_render_openness_error_without"] = float(np.mean(before))
    out[f"{name}_render_openness_error_with"] = float(np.mean(after))
  return out


def retargeting_figures(models, variables, clips, cfg, landmark_model=None,
                        chunk: int = CHUNK) -> dict:
  """|reached - requested| openness, without and with the retargeting MLPs: measured with the
  keypoint proxy, and with `landmark_model` (a LandmarkModel) also on the renders."""
  motion_net = input_sizes(cfg)[1]
  frames = jnp.asarray(np.concatenate([c["frames"] for c in clips]))
  b, size = frames.shape[0], frames.shape[1]
  info = _info(models, variables, frames, motion_net)
  x_s = keypoints.apply_motion(info["kp"], info)
  batch = {"source_landmarks": jnp.zeros((b, 203, 2)), "has_landmarks": jnp.zeros((b,), bool)}
  widths = stage2_objective._widths(x_s, batch, cfg, size)  # pylint: disable=protected-access
  c_s = stage2_objective._ratios(  # pylint: disable=protected-access
      x_s, batch["source_landmarks"], batch["has_landmarks"], widths, cfg)
  gaps_s = stage2_objective._gaps(x_s, cfg)  # pylint: disable=protected-access
  out = {}
  requested = _requests(models, variables, x_s, c_s)
  for i, name in enumerate(("eye", "lip")):
    before, after = [], []
    for target in TARGETS:
      gaps = stage2_objective._gaps(  # pylint: disable=protected-access
          requested[name, target], cfg)
      reached = c_s[i] + (gaps[i] - gaps_s[i]) / widths[i]
      before.append(float(jnp.mean(jnp.abs(c_s[i] - target))))
      after.append(float(jnp.mean(jnp.abs(reached - target))))
      out[f"{name}_reached_at_{target:.1f}"] = float(jnp.mean(reached))
    out[f"{name}_openness_error_without"] = float(np.mean(before))
    out[f"{name}_openness_error_with"] = float(np.mean(after))
  if landmark_model is None:
    out["openness_measure"] = "keypoint_gap_proxy"
  else:
    out.update(_render_figures(models, variables, frames, x_s, cfg, landmark_model, chunk))
    out["openness_measure"] = f"landmark_model:{landmark_model.path}"
  out["retargeting_frames"] = int(b)
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m lp_jax.training.stage2_eval")
  p.add_argument("--workdir", required=True, help="a Stage II training workdir")
  p.add_argument("--frames", type=int, default=8, help="frames per held-out clip")
  p.add_argument("--landmark_model", default=None,
                 help="LivePortrait's landmark.onnx: also measure the reached openness on the "
                      "renders (default: the run's loss.landmark_model, if any; '' for none)")
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  try:
    config = workdir_config.load_config(None, args.workdir)
    networks, step = evaluate.workdir_networks(config, args.workdir)
    if any(n not in networks for n in ("stitching", "eye", "lip")):
      raise ConfigError(f"{args.workdir}: no Stage II checkpoint (stitching / eye / lip)")
    with config.unlocked():
      config.data.eval_num_frames = args.frames
    clips = data.make_eval_clips(config.data)
    path = args.landmark_model
    if path is None:  # the measure the run trained with, if it had one
      path = config.loss.get(landmark_lib.NAME) or ""
    landmark_model = landmark_lib.LandmarkModel(path) if path else None
  except UserError as e:  # ConfigError, DataError, a missing checkpoint or init_from
    return report(e)
  variables = {n: networks[n] for n in (F, M, W, G)}
  variables.update({n: networks[n]["params"] if "params" in networks[n] else networks[n]
                    for n in ("stitching", "eye", "lip")})
  models = stage2_objective.Stage2Models.from_config(config.model)
  result = {"step": step, "clips": [c["name"] for c in clips],
            **stitching_figures(models, variables, clips, config.loss),
            **retargeting_figures(models, variables, clips, config.loss, landmark_model)}
  line = json.dumps(result)
  print(line)
  with open(os.path.join(args.workdir, "stage2_eval.json"), "w", encoding="utf-8") as f:
    f.write(line + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
