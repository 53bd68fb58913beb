# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Ahead-of-time compilation of lp_jax's programs for TPU slices and GPUs (`python -m lp_jax.aot`).

targets: the named targets, the chip table and the compile-only devices; jobs: the training
steps and the W+G inference batch as abstract programs; report: compile, memory / cost /
collectives / roofline report, --max_batch search; hlo: reading XLA's modules.
"""
