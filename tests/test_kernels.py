# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The per-backend layer forms (models/kernels.py) are the ones the networks are built with.

`liveportrait.build(platform=...)` hands its platform's forms to every layer, and the programs
(lowered here on XLA:CPU whatever the platform) take exactly the forms that row of the table
turns on: the depth fold, Winograd and FFT convs appear in CPU programs and not in GPU or TPU
ones. Building for 'gpu' or 'tpu' never changes the variables, and the outputs agree with the
CPU forms within float32 summation error.
"""

import collections
import dataclasses

import flax.linen as nn
import jax
from jax.extend import core as jax_core
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.aot import kernel_forms
from lp_jax.inference import networks
from lp_jax.models import kernels, liveportrait, util
from lp_jax.models.warping_network import WarpingNetwork
from lp_jax_configs import models as model_configs

TINY = model_configs.get_config("tiny")
# Which fields change each tiny base network's program.
USES = {"appearance_feature_extractor": ("conv3d_fold_min_hw", "conv3d_fold_max_out",
                                         "conv3d_fold_pad"),
        "motion_extractor": ("depthwise_stencil",),
        "warping_module": ("conv3d_fold_min_hw", "conv3d_fold_max_out", "conv3d_fold_pad",
                           "upblock3d_phase_min_hw",
                           "phase3d_fold_min_hw", "occlusion_taps", "fft_conv3d_min_kernel",
                           "separable_sparse_motion", "warp_gather_per_frame"),
        "spade_generator": ("upsample2d_phase", "winograd_max_hw")}
# Fields for layers with >= 64 channels in and out (conv_forms.WINOGRAD_MIN_CHANNELS) on 3-D
# volumes, which the tiny networks do not have; their official-shape cases are in
# kernel_forms.cases().
WIDE_ONLY = ("winograd3d_min_hw",)
# The innermost layers that read the forms, per network.
DEEPEST = {"appearance_feature_extractor": {"Conv", "ResBlock3d", "DownBlock2d"},
           "motion_extractor": {"DepthwiseConv2d", "Block"},
           "warping_module": {"Conv", "UpBlock3d", "DownBlock3d", "DenseMotionNetwork"},
           "spade_generator": {"Conv", "SPADE", "SpectralNormConv"}}


def test_platform_names():
  assert kernels.for_platform("cuda") is kernels.for_platform("gpu") is kernels.GPU
  assert kernels.for_platform("rocm") is kernels.GPU
  with pytest.raises(ValueError, match="no kernel forms"):
    kernels.for_platform("metal")
  assert networks.default_generator_chunk("cpu") == kernels.CPU.generator_chunk
  assert networks.default_generator_chunk("tpu") == kernels.TPU.generator_chunk
  assert set(USES) == set(liveportrait.BASE_NETWORKS)
  fields = {f.name for f in dataclasses.fields(kernels.KernelForms)}
  # Four choices are not a layer's: the generator map and where frames are cropped and pasted
  # (the pipeline's), which blocks training recomputes (config.remat) and how many devices
  # the batch is split over (the program's mesh).
  pipeline = {"generator_chunk", "frame_ops_on_device", "remat_blocks", "batch_shards"}
  assert set().union(*USES.values()) | pipeline | set(WIDE_ONLY) == fields
  # The depth fold's output-width cap is judged on the fold's own cases (as_max_out).
  assert {c.form for c in kernel_forms.cases()} | {"conv3d_fold_max_out"} == fields - pipeline
  assert all(c.out_channels for c in kernel_forms.cases() if c.form == "conv3d_fold_min_hw")


def test_unset_forms_are_the_running_backends(monkeypatch):
  """A network or layer built without a platform takes the backend it runs on, not CPU's."""
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert liveportrait.build("warping_module", TINY).forms == kernels.GPU
  assert WarpingNetwork().forms == kernels.GPU
  assert util.conv(8, 3, padding=1).forms == kernels.GPU
  assert liveportrait.build("warping_module", TINY, platform="tpu").forms == kernels.TPU


def _layer_forms(net, inputs) -> dict:
  """{module path: forms} of every module with a `forms` field that runs in `net.init`."""
  seen = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if hasattr(module, "forms"):
      seen[(type(module).__name__,) + tuple(module.scope.path)] = module.forms
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(net.init, jax.random.key(0), *inputs)
  return seen


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
@pytest.mark.parametrize("name", liveportrait.BASE_NETWORKS)
def test_every_layer_gets_the_platform_forms(name, platform):
  """Built here (a CPU host) for another platform, no layer falls back to this host's forms."""
  net = liveportrait.build(name, TINY, platform=platform)
  seen = _layer_forms(net, liveportrait.example_inputs(name, TINY))
  assert DEEPEST[name] <= {path[0] for path in seen}
  wrong = {"/".join(path[1:]) or path[0] for path, forms in seen.items()
           if forms != kernels.for_platform(platform)}
  assert not wrong


def _eqns(jaxpr):
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, jax_core.ClosedJaxpr):
          yield from _eqns(sub.jaxpr)
        elif isinstance(sub, jax_core.Jaxpr):
          yield from _eqns(sub)


def _program(net, name) -> collections.Counter:
  """What the network's jaxpr computes its convs with, and how many conv kernels it has."""
  inputs = liveportrait.example_inputs(name, TINY)
  variables = jax.eval_shape(net.init, jax.random.key(0), *inputs)
  counts = collections.Counter(
      f"kernels{v.ndim - 2}d" for path, v in jax.tree_util.tree_leaves_with_path(variables)
      if path[-1].key == "kernel" and v.ndim >= 4)
  for eqn in _eqns(jax.make_jaxpr(net.apply)(variables, *inputs).jaxpr):
    if eqn.primitive.name == "conv_general_dilated":
      lhs, rhs = eqn.invars[0].aval, eqn.invars[1].aval
      counts[f"conv{lhs.ndim - 2}d"] += 1
      counts["grouped"] += eqn.params["feature_group_count"] > 1
      counts["one_output"] += rhs.shape[-1] == 1
      counts["phase2d"] += lhs.ndim == 4 and rhs.shape[:2] == (2, 2)
    elif eqn.primitive.name == "fft":
      counts["fft"] += 1
  return counts


@pytest.mark.parametrize("platform", ["cpu", "gpu", "tpu"])
def test_programs_take_the_platform_forms(platform):
  """Each form is in the lowered program exactly where the platform's row turns it on."""
  forms = kernels.for_platform(platform)
  build = lambda name: liveportrait.build(name, TINY, platform=platform)
  f = _program(build("appearance_feature_extractor"), "appearance_feature_extractor")
  # F's volume is 64x64 throughout: every Conv3d depth-folded (2-D convs) or none.
  assert f["conv3d"] == (0 if forms.conv3d_fold_min_hw else f["kernels3d"])
  w = _program(build("warping_module"), "warping_module")
  assert (w["fft"] > 0) == (forms.fft_conv3d_min_kernel is not None)  # the 7x7x7 mask
  assert (w["conv3d"] < w["kernels3d"]) == (forms.conv3d_fold_min_hw is not None)
  assert (w["one_output"] == 0) == forms.occlusion_taps
  g = _program(build("spade_generator"), "spade_generator")
  # Winograd takes G_middle's 64 -> 64 3x3 convs (64x64 maps) off the convolution op.
  assert (g["conv2d"] < g["kernels2d"]) == (forms.winograd_max_hw is not None)
  assert (g["phase2d"] > 0) == forms.upsample2d_phase  # up_0's and up_1's SPADE maps
  m = _program(build("motion_extractor"), "motion_extractor")
  assert (m["grouped"] == 0) == forms.depthwise_stencil
  if platform == "cpu":
    assert f["conv3d"] == 0 and w["fft"] > 0 and g["conv2d"] < g["kernels2d"]
  else:  # none of the float32 CPU forms (Winograd, FFT)
    assert w["fft"] == 0 and g["conv2d"] == g["kernels2d"]
  if platform == "gpu":  # the depth fold only adds bytes there
    assert f["conv3d"] == f["kernels3d"] and w["conv3d"] == w["kernels3d"]
  if platform == "tpu":  # folded up to 22 outputs from 64x64: F's 16-wide blocks, W's mask
    assert f["conv3d"] == 0 and w["conv3d"] < w["kernels3d"]


def test_forms_reach_the_innermost_convs():
  """Switching one field on the top-level network changes its deepest convs' algorithm."""
  net = liveportrait.build("motion_extractor", TINY, platform="cpu")
  grouped = net.clone(forms=dataclasses.replace(net.forms, depthwise_stencil=False))
  blocks = sum(TINY.motion_extractor.depths)
  assert _program(net, "motion_extractor")["grouped"] == 0
  assert _program(grouped, "motion_extractor")["grouped"] == blocks


@pytest.mark.parametrize("case", kernel_forms.cases(), ids=lambda c: f"{c.form}:{c.shape}")
def test_every_form_changes_the_program(case):
  """Each field switches its layer's program (lowered only, at the official shapes)."""
  def text(forms):
    layer = case.layer(jnp.float32, forms)
    xs = tuple(jax.ShapeDtypeStruct(s, jnp.float32) for s in case.inputs)
    variables = jax.eval_shape(layer.init, jax.random.key(0), *xs)
    return variables, jax.jit(layer.apply).lower(variables, *xs).as_text()

  rewrite_vars, rewrite = text(case.rewrite)
  plain_vars, plain = text(case.plain)
  assert rewrite != plain
  assert jax.tree.map(lambda v: (v.shape, v.dtype), rewrite_vars) == jax.tree.map(
      lambda v: (v.shape, v.dtype), plain_vars)


def _lowered(net, variables, inputs) -> str:
  return jax.jit(net.apply).lower(variables, *inputs).as_text()


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
@pytest.mark.parametrize("name", liveportrait.BASE_NETWORKS)
def test_platform_forms_same_variables_close_outputs(name, platform):
  cpu_net = liveportrait.build(name, TINY, platform="cpu")
  net = liveportrait.build(name, TINY, platform=platform)
  inputs = liveportrait.example_inputs(name, TINY, batch=2)
  rng = np.random.default_rng(0)
  inputs = tuple(jnp.asarray(rng.uniform(0.0, 1.0, x.shape), x.dtype) for x in inputs)
  variables = liveportrait.random_variables(name, TINY, seed=1)
  assert (jax.tree.map(jnp.shape, jax.eval_shape(net.init, jax.random.key(0), *inputs)) ==
          jax.tree.map(jnp.shape, variables))
  differs = any(getattr(kernels.CPU, f) != getattr(net.forms, f) for f in USES[name])
  # A program differs only where a field does; a field may differ without changing the tiny
  # network's program (the TPU folds F's 16-wide 64x64 convs like CPU, whose threshold is
  # lower and which has no width cap). That every field switches its layer is test_every_form_changes_the_program's.
  programs_differ = _lowered(net, variables, inputs) != _lowered(cpu_net, variables, inputs)
  assert differs or not programs_differ
  if not programs_differ:
    return
  want = jax.jit(cpu_net.apply)(variables, *inputs)
  got = jax.jit(net.apply)(variables, *inputs)
  # Summation-order rewrites agree within 2e-5 x scale; the Winograd form rounds more (its
  # transforms scale by up to 8 and 1/24: measured 9e-5 on the tiny G's image).
  winograd = any(getattr(kernels.CPU, f) != getattr(net.forms, f)
                 for f in ("winograd_max_hw", "winograd3d_min_hw") if f in USES[name])
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    scale = float(jnp.max(jnp.abs(b))) + 1e-6
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0,
                               atol=(2e-4 if winograd else 2e-5) * scale)


def _record(form, hw, rewrite_s, plain_s, rewrite_temp=0, plain_temp=0, platform="cuda",
            **extra):
  fig = lambda s, t: {"roofline_s": s, "temp_bytes": t}
  return {"form": form, "platform": platform, "input_hw": hw,
          "rewrite": fig(rewrite_s, rewrite_temp), "plain": fig(plain_s, plain_temp), **extra}


def test_verdict_rule():
  """Thresholds start where the rewrite wins at every larger size; ties and temp blow-ups
  go to the plain form."""
  up = [_record("upblock3d_phase_min_hw", 64, 2.0, 1.0), _record("upblock3d_phase_min_hw", 256,
                                                                 1.0, 2.0),
        _record("upblock3d_phase_min_hw", 1024, 1.0, 2.0)]
  assert kernel_forms.verdict(up)["rule_value"] == 256
  up[-1] = _record("upblock3d_phase_min_hw", 1024, 3.0, 2.0)
  assert kernel_forms.verdict(up)["rule_value"] is None
  tie = [_record("depthwise_stencil", 64, 0.99, 1.0)]
  assert kernel_forms.verdict(tie)["rule_value"] is False
  fast = [_record("depthwise_stencil", 64, 0.5, 1.0)]
  assert kernel_forms.verdict(fast)["rule_value"] is True
  mib = 2 ** 20
  hungry = [_record("depthwise_stencil", 64, 0.5, 1.0, rewrite_temp=200 * mib,
                    plain_temp=100 * mib)]
  assert kernel_forms.verdict(hungry)["rule_value"] is False
  # Under 32 MiB more is allowed whatever the ratio (the mask's fold in fp32: 64 against 36).
  small = [_record("depthwise_stencil", 64, 0.5, 1.0, rewrite_temp=64 * mib, plain_temp=36 * mib)]
  assert kernel_forms.verdict(small)["rule_value"] is True
  assert kernel_forms.verdict(fast)["table_value"] == kernels.GPU.depthwise_stencil


def test_verdict_ranks_tpu_forms_by_the_compilers_estimate():
  """Where every record has XLA:TPU's estimate the rule sums it, not the roofline; the depth
  fold's output-width cap comes from the widths it wins at, and its H * W threshold from the
  convs within the cap."""
  def rec(hw, out, rewrite_est, plain_est):
    r = _record("conv3d_fold_min_hw", hw, 1.0, 0.5, platform="tpu", output_channels=out)
    r["rewrite"]["estimate_s"], r["plain"]["estimate_s"] = rewrite_est, plain_est
    return r
  # The roofline prefers the direct conv everywhere; the estimate prefers the fold for the
  # narrow outputs (22 and 32 channels at 64x64) and the direct conv from 64 channels up.
  records = [rec(4096, 22, 1.0, 4.0), rec(4096, 32, 0.8, 1.0), rec(4096, 64, 1.1, 1.0),
             rec(1024, 128, 2.0, 1.0), rec(4096, 142, 4.0, 2.0)]
  got = kernel_forms.verdict(records)
  assert got["ranked_by"] == "estimate_s" and got["rule_value"] == 4096
  assert got["within_max_out"] == 32 and got["plain_estimate_s"] == 5.0
  cap = kernel_forms.verdict(kernel_forms.as_max_out(records))
  assert cap["rule_value"] == 32 and cap["table_value"] == kernels.TPU.conv3d_fold_max_out
  assert cap["rewrite_wins_at_out"] == {"22": True, "32": True, "64": False, "128": False,
                                        "142": False}
  every = [rec(4096, 22, 1.0, 4.0), rec(4096, 32, 0.8, 1.0)]
  assert kernel_forms.verdict(kernel_forms.as_max_out(every))["rule_value"] is None  # no cap
  assert kernel_forms.verdict(kernel_forms.as_max_out(records[2:]))["rule_value"] == 0
  # One record without an estimate: the roofline decides (the fold loses everywhere).
  del records[0]["rewrite"]["estimate_s"]
  assert kernel_forms.verdict(records)["ranked_by"] == "roofline_s"
  assert kernel_forms.verdict(records)["rule_value"] is None
