# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""LivePortrait's training objectives, one module per stage.

  stage1  F, M, W, G and the discriminators (paper Sec. 3.2)
  stage2  the stitching / eye / lip MLPs on a frozen base (paper Sec. 3.3, Eq. 5-6)
  common  applying a network with its mutable collections, rendering with W and G

Each objective reads its weights and settings from the `loss` block of the config
(configs/losses.py).
"""
