# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m convert_weights`: the command line over lp_jax.weights (official LivePortrait
checkpoints <-> lp_jax Orbax directories, and the auxiliary training networks)."""

import os

# The converter is an offline CPU tool: never grab an accelerator for it. Set here, before
# __main__ imports jax (through lp_jax.weights), which reads it at import.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
