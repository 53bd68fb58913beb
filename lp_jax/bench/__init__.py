# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Benchmarks of the LivePortrait networks on this machine: `python -m lp_jax.bench`.

forward: our jitted forward passes alone (JSON lines, FLOP rates); side_by_side: the official
PyTorch code and ours alternating on identical weights (`--official DIR`).
"""
