# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.training.evaluate: the image metrics. (Evaluating a trained tiny model on held-out
clips is part of test_training's Stage I run.)"""

import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax_configs import stage1
from lp_jax.training import evaluate
from lp_jax.training.errors import ConfigError


def test_eval_metrics():
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.uniform(size=(2, 32, 32, 3)).astype(np.float32))
  assert np.allclose(evaluate.ssim(a, a), 1.0, atol=1e-5)
  assert np.all(evaluate.psnr(a, a) == 100.0)
  b = jnp.clip(a + 0.1, 0, 1)
  mse = np.mean(np.square(np.asarray(a - b)), axis=(1, 2, 3))
  np.testing.assert_allclose(evaluate.psnr(a, b), -10 * np.log10(mse), rtol=1e-5)
  assert np.all(np.asarray(evaluate.ssim(a, b)) < 1.0)


def test_evaluate_workdir_needs_a_base(tmp_path):
  """No checkpoint and no init_from: a one-line configuration error (python -m lp_jax.eval
  turns it into its exit message)."""
  config = stage1.get_config("tiny")
  with pytest.raises(ConfigError, match="no base-model checkpoint and no config.init_from"):
    evaluate.evaluate_workdir(config, str(tmp_path))
