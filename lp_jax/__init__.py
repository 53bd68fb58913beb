# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax: LivePortrait in JAX/Flax."""

__version__ = "0.1.0"
