# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""ONNX graphs as pure JAX functions: the official face models on the accelerator.

`load(path)` reads a graph with `onnx` and returns an `OnnxFunction`: `apply(params, *inputs)`
is a pure function of the graph's float initializers and its inputs that `jax.jit` compiles with
static shapes (shape subgraphs fold to NumPy constants while tracing). `Session` wraps one in
onnxruntime's `get_inputs` / `get_outputs` / `run` interface, so the face-model runners take
either. `ops.SUPPORTED` lists the operators; any other gets `UnsupportedOperatorError`, one line
naming the operator and the file.
"""

from lp_jax.onnx_jax.graph import OnnxFunction, UnsupportedOperatorError, load
from lp_jax.onnx_jax.ops import SUPPORTED
from lp_jax.onnx_jax.session import Session

__all__ = ["OnnxFunction", "Session", "SUPPORTED", "UnsupportedOperatorError", "load"]
