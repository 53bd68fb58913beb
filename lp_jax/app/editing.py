# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Image retargeting and expression editing: the official app's sliders and their keypoint
arithmetic (`GradioPipeline.execute_image_retargeting` and its `update_delta_new_*` helpers),
rendered as one jitted call per edit.

For an encoded source (kp, exp, scale, t, pose, x_s, f_s) the edited driving keypoints are

  R_d   = R(pitch + d_pitch, yaw + d_yaw, roll + d_roll)
  delta = exp + sum_i v_i * C_i          (C_i: the slider's fixed [K, 3] coefficients)
  x_d   = mov_z * scale * (kp @ R_d + delta) + t
  x_d  += eye_delta (when the eyes ratio moved) + lip_delta (when the lip ratio moved)
  x_d   = stitching(x_s, x_d)            (when on)

then W+G draws one 512x512 frame. All of it is one XLA program per model shape, so a slider
change costs the keypoint arithmetic, three small MLPs and one W+G frame.

Official details kept on purpose: the whole t (including tz) is added, as the official
retargeting does (the animation pipeline zeroes tz); R_d is multiplied as (R_d R_s^T) R_s; the
eye / lip retargeting MLPs only run when their slider differs from the source's own ratio
rounded to two decimals; eye gaze also blinks by -gaze_y / 2.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lp_jax.inference.decoder import to_uint8
from lp_jax.inference.networks import default_generator_chunk, warp_decode_fn
from lp_jax.ops import keypoints, motion

NUM_KP = 21


@dataclasses.dataclass(frozen=True)
class Control:
  """A slider of the official retargeting panel (range, default and step as there)."""
  name: str
  label: str
  minimum: float
  maximum: float
  value: float
  step: float


# In the order of the official `execute_image_retargeting` arguments (and of the API).
CONTROLS = (
    Control("eye_ratio", "target eyes-open ratio", 0.0, 0.8, 0.0, 0.01),
    Control("lip_ratio", "target lip-open ratio", 0.0, 0.8, 0.0, 0.01),
    Control("head_pitch", "relative pitch", -15.0, 15.0, 0.0, 1.0),
    Control("head_yaw", "relative yaw", -25.0, 25.0, 0.0, 1.0),
    Control("head_roll", "relative roll", -15.0, 15.0, 0.0, 1.0),
    Control("mov_x", "x-axis movement", -0.19, 0.19, 0.0, 0.01),
    Control("mov_y", "y-axis movement", -0.19, 0.19, 0.0, 0.01),
    Control("mov_z", "z-axis movement", 0.9, 1.2, 1.0, 0.01),
    Control("lip_variation_zero", "pouting", -0.09, 0.09, 0.0, 0.01),
    Control("lip_variation_one", "pursing 😐", -20.0, 15.0, 0.0, 0.01),
    Control("lip_variation_two", "grin 😁", 0.0, 15.0, 0.0, 0.01),
    Control("lip_variation_three", "lip close <-> open", -90.0, 120.0, 0.0, 1.0),
    Control("smile", "smile 😄", -0.3, 1.3, 0.0, 0.01),
    Control("wink", "wink 😉", 0.0, 39.0, 0.0, 0.01),
    Control("eyebrow", "eyebrow 🤨", -30.0, 30.0, 0.0, 0.01),
    Control("eyeball_direction_x", "eye gaze (horizontal) 👀", -30.0, 30.0, 0.0, 0.01),
    Control("eyeball_direction_y", "eye gaze (vertical) 🙄", -63.0, 63.0, 0.0, 0.01),
)
CONTROL_NAMES = tuple(c.name for c in CONTROLS)
DEFAULTS = {c.name: c.value for c in CONTROLS}

# (keypoint, axis, coefficient) terms each slider adds to the expression delta, for positive
# values and, where the official code branches on the sign, for values <= 0.
_TERMS = {
    "smile": [(20, 1, -0.01), (14, 1, -0.02), (17, 1, 0.0065), (17, 2, 0.003),
              (13, 1, -0.00275), (16, 1, -0.00275), (3, 1, -0.0035), (7, 1, -0.0035)],
    "wink": [(11, 1, 0.001), (13, 1, -0.0003), (17, 0, 0.0003), (17, 1, 0.0003),
             (3, 1, -0.0003)],
    "lip_variation_zero": [(19, 0, 1.0)],
    "lip_variation_one": [(14, 1, 0.001), (3, 1, -0.0005), (7, 1, -0.0005), (17, 2, -0.0005)],
    "lip_variation_two": [(20, 2, -0.001), (20, 1, -0.001), (14, 1, -0.001)],
    "lip_variation_three": [(19, 1, 0.001), (19, 2, 0.0001), (17, 1, -0.0001)],
    "mov_x": [(5, 0, -1.0)],  # the official call passes -mov_x
    "mov_y": [(5, 1, 1.0)],
    # Vertical gaze moves both pupils and blinks by -y / 2 (the second group: blink * coef).
    "eyeball_direction_y": [(11, 1, -0.001), (15, 1, -0.001),
                            (11, 1, 0.0005), (13, 1, -0.00015), (15, 1, 0.0005),
                            (16, 1, -0.00015)],
}
_SIGNED_TERMS = {  # name: (terms for v > 0, terms for v <= 0)
    "eyeball_direction_x": ([(11, 0, 0.0007), (15, 0, 0.001)],
                            [(11, 0, 0.001), (15, 0, 0.0007)]),
    "eyebrow": ([(1, 1, 0.001), (2, 1, -0.001)],
                [(1, 0, -0.001), (2, 0, 0.001), (1, 1, 0.0003), (2, 1, -0.0003)]),
}
EXPRESSION_NAMES = ("lip_variation_zero", "lip_variation_one", "lip_variation_two",
                    "lip_variation_three", "smile", "wink", "eyebrow", "eyeball_direction_x",
                    "eyeball_direction_y", "mov_x", "mov_y")


def _table(terms) -> np.ndarray:
  out = np.zeros((NUM_KP, 3), np.float32)
  for kp, axis, coef in terms:
    out[kp, axis] += coef
  return out


def coefficient_tables() -> tuple[np.ndarray, np.ndarray]:
  """([S, K, 3] coefficients for positive values, the same for values <= 0), S sliders in
  EXPRESSION_NAMES order."""
  pos, neg = [], []
  for name in EXPRESSION_NAMES:
    up, down = _SIGNED_TERMS.get(name, (_TERMS.get(name), _TERMS.get(name)))
    pos.append(_table(up))
    neg.append(_table(down))
  return np.stack(pos), np.stack(neg)


_POS, _NEG = coefficient_tables()


def expression_delta(values: jnp.ndarray) -> jnp.ndarray:
  """[K, 3] expression offset of slider values [S] (EXPRESSION_NAMES order)."""
  coef = jnp.where((values > 0)[:, None, None], _POS, _NEG)  # [S, K, 3]
  return jnp.einsum("s,skc->kc", values.astype(jnp.float32), coef)


def edited_keypoints(src: dict, pose: jnp.ndarray, mov_z, expression: jnp.ndarray):
  """x_d [1, K, 3] before retargeting and stitching.

  Args:
    src: source motion (batch 1): kp, exp [1, K, 3], scale [1, 1], t [1, 3], pitch / yaw / roll
      [1, 1] in degrees.
    pose: [3] relative pitch, yaw, roll in degrees.
    mov_z: scalar zoom.
    expression: [S] slider values in EXPRESSION_NAMES order.
  """
  r_s = keypoints.get_rotation_matrix(src["pitch"], src["yaw"], src["roll"])
  r_d = keypoints.get_rotation_matrix(src["pitch"] + pose[0], src["yaw"] + pose[1],
                                      src["roll"] + pose[2])
  r_new = (r_d @ jnp.swapaxes(r_s, 1, 2)) @ r_s
  delta = src["exp"] + expression_delta(expression)[None]
  return mov_z * src["scale"][..., None] * (src["kp"] @ r_new + delta) + src["t"][:, None, :]


@dataclasses.dataclass(frozen=True)
class Edit:
  """Values of every slider (CONTROL_NAMES) and the panel's toggles."""
  values: dict
  flag_stitching: bool = True

  @classmethod
  def from_args(cls, args, flag_stitching: bool = True) -> "Edit":
    values = dict(zip(CONTROL_NAMES, (float(a) for a in args)))
    return cls(values, bool(flag_stitching))


def _render(nets: dict, has: tuple, chunk, variables, f_s, x_s, src, pose, mov_z, expression,
            eye_cond, lip_cond, switches):
  """The whole edit: keypoints, retargeting, stitching, W+G -> uint8 [1, 512, 512, 3]."""
  x_d = edited_keypoints(src, pose, mov_z, expression)
  if "eye" in has:
    eye = nets["eye"].apply(variables["eye"], motion.retarget_input(x_s, eye_cond))
    x_d = x_d + switches[0] * eye.reshape(x_d.shape)
  if "lip" in has:
    lip = nets["lip"].apply(variables["lip"], motion.retarget_input(x_s, lip_cond))
    x_d = x_d + switches[1] * lip.reshape(x_d.shape)
  if "stitching" in has:
    stitched = motion.apply_stitching(
        x_d, nets["stitching"].apply(variables["stitching"], motion.stitching_input(x_s, x_d)))
    x_d = jnp.where(switches[2] > 0, stitched, x_d)
  out = warp_decode_fn(nets["warping_module"], nets["spade_generator"],
                       variables["warping_module"], variables["spade_generator"], f_s, x_s, x_d,
                       chunk)
  return to_uint8(out["out"]), x_d


class EditRenderer:
  """Renders edits of encoded sources with one jitted program per model shape."""

  def __init__(self, models):
    names = ("warping_module", "spade_generator", "eye", "lip", "stitching")
    self.has = tuple(n for n in names[2:] if models.has(n))
    present = {n: models.network(n) for n in names if models.has(n)}
    self.variables = {n: v for n, (_, v) in present.items()}
    nets = {n: net for n, (net, _) in present.items()}
    self._render = jax.jit(functools.partial(_render, nets, self.has,
                                             default_generator_chunk()))

  def __call__(self, source, edit: Edit) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [512, 512, 3] frame, [1, K, 3] driving keypoints) of `edit` on `source`.

    `source` is a sources.EncodedSource; its eye / lip ratios (when known) decide whether the
    retargeting sliders are active.
    """
    v = edit.values
    eye_on = lip_on = 0.0
    eye_cond = np.zeros((1, 3), np.float32)
    lip_cond = np.zeros((1, 2), np.float32)
    if source.eye_ratio is not None:
      eye_slider, lip_slider = source.slider_ratios
      eye_on = float(v["eye_ratio"] != eye_slider)
      lip_on = float(v["lip_ratio"] != lip_slider)
      eye_cond = np.concatenate([source.eye_ratio, [[v["eye_ratio"]]]], 1).astype(np.float32)
      lip_cond = np.concatenate([source.lip_ratio, [[v["lip_ratio"]]]], 1).astype(np.float32)
    pose = np.array([v["head_pitch"], v["head_yaw"], v["head_roll"]], np.float32)
    expression = np.array([v[n] for n in EXPRESSION_NAMES], np.float32)
    switches = np.array([eye_on, lip_on, float(edit.flag_stitching)], np.float32)
    frame, x_d = self._render(self.variables, source.feature_3d, source.x_s, source.motion, pose,
                              np.float32(v["mov_z"]), expression, eye_cond, lip_cond, switches)
    return np.asarray(frame)[0], np.asarray(x_d)
