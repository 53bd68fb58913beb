# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""A training configuration that cannot run; train.py prints its one-line message and exits 1."""

from lp_jax.errors import InputError


class ConfigError(InputError):
  """A bad configuration value (mesh, batch size, init checkpoint); the message names it."""
