# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Model hyper-parameters of the training configs: F, M, W, G and the retargeting MLPs.

  from lp_jax_configs import models
  cfg = models.get_config()              # the official networks (src/config/models.yaml)
  cfg = models.get_config("tiny")        # a narrow variant with the same wiring, for CPU tests
  cfg = models.get_config("tiny_train")  # tiny with a 32x32 volume: CPU training tests
  cfg = models.get_config("micro")       # tiny shrunk to 64 px: training-mechanics tests

The variants are defined in lp_jax/models/variants.py: the library builds networks from a
variant name (a manifest's `model_config`, infer.py's and the app's flags), so it owns them.
"""

from lp_jax.models.variants import get_config

__all__ = ["get_config"]
