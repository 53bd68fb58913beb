# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""config.remat: W's hourglass blocks and G's SPADE blocks recomputed in the backward pass give
the gradients of keeping their activations, under the same variables (the memory it saves is
measured at full size by python -m lp_jax.aot, docs/aot.md)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax.models import liveportrait
from lp_jax.models import variants as model_configs
from lp_jax.training import initializers, stages
from lp_jax.training.errors import ConfigError
from lp_jax.training.objectives.common import apply_module

NETS = ("warping_module", "spade_generator")


def _grad_fn(policy: str, config, train: bool = True):
  w, g = (liveportrait.build(n, config, remat=policy) for n in NETS)

  def loss(params, state, f_s, x_s, x_d):
    warped, _ = apply_module(w, params[NETS[0]], state[NETS[0]], f_s, x_d, x_s, train=train)
    image, _ = apply_module(g, params[NETS[1]], state[NETS[1]], warped["out"], train=train)
    return jnp.mean(jnp.square(image - 0.5))

  return (w, g), jax.jit(jax.grad(loss))


@pytest.fixture(scope="module")
def setup():
  config = model_configs.get_config("micro")
  (w, g), _ = _grad_fn("none", config)
  params, state = initializers.init_networks(dict(zip(NETS, (w, g))), config,
                                             jax.random.PRNGKey(0))
  f_s, kp, _ = liveportrait.example_inputs(NETS[0], config, batch=2)
  rng = np.random.default_rng(0)
  f_s = jnp.asarray(rng.normal(size=f_s.shape), jnp.float32)
  x_s, x_d = (jnp.asarray(rng.uniform(-0.8, 0.8, size=kp.shape), jnp.float32) for _ in range(2))
  return config, params, state, (f_s, x_s, x_d)


# Relative L2 error of the gradients allowed per network. Recomputing a block fuses it
# differently, and the micro networks amplify that float rounding: W's gradients go through
# the deformation's trilinear sampling, whose corner weights jump wherever rounding moves a
# coordinate across a cell, and through BatchNorm on a batch of 2. The same program run op by
# op instead of jitted differs from the jitted one by 5.8e-3 (W) and 3.2e-4 (G); recomputing
# gave 2.8e-3 and 1.7e-4. A wrong recomputation (other statistics, other weights) is off by
# order 1.
TOLERANCE = {"warping_module": 1e-2, "spade_generator": 1e-3}


def test_blocks_keep_the_variables_and_the_gradients(setup):
  config, params, state, inputs = setup
  rematted = dict(zip(NETS, _grad_fn("blocks", config)[0]))
  for name, module in rematted.items():  # same names and shapes: checkpoints interchange
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0),
                            *liveportrait.example_inputs(name, config))
    assert jax.tree.structure(shapes["params"]) == jax.tree.structure(params[name])
  kept = _grad_fn("none", config)[1](params, state, *inputs)
  recomputed = _grad_fn("blocks", config)[1](params, state, *inputs)
  for name in NETS:
    a, b = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(t[name])])
            for t in (kept, recomputed))
    assert np.linalg.norm(a) > 0
    assert np.linalg.norm(a - b) <= TOLERANCE[name] * np.linalg.norm(a), name


def test_blocks_put_each_block_under_remat(setup):
  """The micro networks' 2 + 2 hourglass blocks and 8 SPADE blocks, each one remat."""
  config, params, state, inputs = setup
  count = lambda p: str(jax.make_jaxpr(_grad_fn(p, config)[1])(params, state, *inputs)).count(
      "remat")
  assert count("none") == 0 and count("blocks") == 12


def test_an_unknown_policy_is_a_config_error():
  from lp_jax_configs import stage1  # pylint: disable=g-import-not-at-top
  config = stage1.get_config("micro")
  config.remat = "layers"
  with pytest.raises(ConfigError, match="config.remat: remat policy 'layers' is not one of"):
    stages.for_config(config).setup()
