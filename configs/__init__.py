# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax's ml_collections configs, installed as `lp_jax_configs` (docs/architecture.md says
why). They read the library's constants; nothing in lp_jax imports them."""
