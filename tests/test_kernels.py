# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The per-backend layer forms (models/kernels.py) are the ones the networks are built with.

CPU's forms give the same program as a network built without forms; building for 'gpu' or
'tpu' changes the program wherever their table differs, never the variables, and the outputs
agree with the CPU forms within float32 summation error (all run here on XLA:CPU).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.aot import kernel_forms
from lp_jax.inference import networks
from lp_jax.models import kernels, liveportrait
from lp_jax_configs import models as model_configs

TINY = model_configs.get_config("tiny")
# Which fields change each tiny base network's program (its layers that call kernels.forms_of).
USES = {"appearance_feature_extractor": ("conv3d_fold_min_hw", "conv3d_fold_pad"),
        "motion_extractor": ("depthwise_stencil",),
        "warping_module": ("conv3d_fold_min_hw", "conv3d_fold_pad", "upblock3d_phase_min_hw",
                           "phase3d_fold_min_hw", "occlusion_taps", "fft_conv3d_min_kernel"),
        "spade_generator": ("upsample2d_phase", "winograd_max_hw")}
# Fields for layers with >= 64 channels in and out (conv_forms.WINOGRAD_MIN_CHANNELS), which the
# tiny networks do not have; their official-shape cases are in kernel_forms.cases().
WIDE_ONLY = ("winograd3d_min_hw",)


def test_platform_table():
  assert kernels.for_platform("cpu") == kernels.KernelForms() == kernels.CPU
  assert kernels.for_platform("gpu") is kernels.for_platform("cuda") is kernels.GPU
  assert kernels.for_platform("tpu") is kernels.TPU
  with pytest.raises(ValueError, match="no kernel forms"):
    kernels.for_platform("metal")
  assert networks.default_generator_chunk("cpu") == 1
  assert networks.default_generator_chunk("tpu") == kernels.TPU.generator_chunk
  assert set(USES) == set(liveportrait.BASE_NETWORKS)
  fields = {f.name for f in dataclasses.fields(kernels.KernelForms)}
  assert set().union(*USES.values()) | {"generator_chunk", *WIDE_ONLY} == fields
  assert {c.form for c in kernel_forms.cases()} == fields - {"generator_chunk"}


@pytest.mark.parametrize("case", kernel_forms.cases(), ids=lambda c: f"{c.form}:{c.shape}")
def test_every_form_changes_the_program(case):
  """Each field switches its layer's program (lowered only, at the official shapes)."""
  def text(forms):
    host = kernel_forms._Host(forms, case.layer, jnp.float32)  # pylint: disable=protected-access
    xs = tuple(jax.ShapeDtypeStruct(s, jnp.float32) for s in case.inputs)
    variables = jax.eval_shape(host.init, jax.random.key(0), *xs)
    return variables, jax.jit(host.apply).lower(variables, *xs).as_text()

  rewrite_vars, rewrite = text(case.rewrite)
  plain_vars, plain = text(case.plain)
  assert rewrite != plain
  assert jax.tree.map(lambda v: (v.shape, v.dtype), rewrite_vars) == jax.tree.map(
      lambda v: (v.shape, v.dtype), plain_vars)


def _lowered(net, variables, inputs) -> str:
  return jax.jit(net.apply).lower(variables, *inputs).as_text()


@pytest.mark.parametrize("name", liveportrait.BASE_NETWORKS)
def test_cpu_build_is_the_plain_program(name):
  """build(platform='cpu') lowers to the same program as the network without any forms."""
  net = liveportrait.build(name, TINY, platform="cpu")
  bare = net.clone(kernels=None)
  inputs = liveportrait.example_inputs(name, TINY)
  variables = jax.eval_shape(net.init, jax.random.key(0), *inputs)
  assert _lowered(net, variables, inputs) == _lowered(bare, variables, inputs)


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
  differs = any(getattr(kernels.CPU, f) != getattr(net.kernels, f) for f in USES[name])
  assert (_lowered(net, variables, inputs) != _lowered(cpu_net, variables, inputs)) == differs
  if not differs:
    return
  want = jax.jit(cpu_net.apply)(variables, *inputs)
  got = jax.jit(net.apply)(variables, *inputs)
  # Summation-order rewrites agree within 2e-5 x scale; the Winograd form rounds more (its
  # transforms scale by up to 8 and 1/24: measured 9e-5 on the tiny G's image).
  winograd = any(getattr(kernels.CPU, f) != getattr(net.kernels, f)
                 for f in ("winograd_max_hw", "winograd3d_min_hw") if f in USES[name])
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    scale = float(jnp.max(jnp.abs(b))) + 1e-6
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0,
                               atol=(2e-4 if winograd else 2e-5) * scale)


def _record(form, hw, rewrite_s, plain_s, rewrite_temp=0, plain_temp=0):
  fig = lambda s, t: {"roofline_s": s, "temp_bytes": t}
  return {"form": form, "platform": "cuda", "input_hw": hw,
          "rewrite": fig(rewrite_s, rewrite_temp), "plain": fig(plain_s, plain_temp)}


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
  hungry = [_record("depthwise_stencil", 64, 0.5, 1.0, rewrite_temp=200, plain_temp=100)]
  assert kernel_forms.verdict(hungry)["rule_value"] is False
  assert kernel_forms.verdict(fast)["table_value"] == kernels.GPU.depthwise_stencil
