# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Face detection and landmarks: the official ONNX models (SCRFD-10G, 2d106det, landmark.onnx),
run as jitted JAX functions (`lp_jax.onnx_jax`) or with onnxruntime on the CPU, with the pre- and
post-processing of InsightFace and LivePortrait.
"""
