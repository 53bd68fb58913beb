# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Offline converter between the official LivePortrait checkpoints and lp_jax (Orbax)."""
