# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax: LivePortrait in JAX/Flax."""

from lp_jax import xla_flags as _xla_flags

__version__ = "0.1.0"

# Before any JAX backend starts: XLA reads XLA_FLAGS once (lp_jax/xla_flags.py says why).
_xla_flags.apply()
