# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""An `OnnxFunction` behind onnxruntime's `InferenceSession` interface.

The face-model runners (`lp_jax.detect`) call `get_inputs()`, `get_outputs()` and
`run(output_names, feeds)`; this class answers them from the graph and runs the jitted function
on one device, so either backend plugs in unchanged. Each distinct input shape compiles once.
"""

from typing import Optional, Sequence

import jax
import numpy as np

from lp_jax.errors import InputError
from lp_jax.onnx_jax import graph as graph_lib


class Session:
  """onnxruntime-style session over a jitted ONNX graph."""

  def __init__(self, model: graph_lib.ModelSource, device: Optional[jax.Device] = None,
               name: Optional[str] = None):
    self.function = graph_lib.load(model, name)
    self.device = device or jax.devices()[0]
    self._run = self.function.jit(self.device)

  def get_inputs(self) -> Sequence[graph_lib.ValueInfo]:
    return self.function.inputs

  def get_outputs(self) -> Sequence[graph_lib.ValueInfo]:
    return self.function.outputs

  def run_device(self, feeds: dict) -> tuple:
    """All outputs as device arrays, without waiting for them."""
    missing = [n for n in self.function.input_names if n not in feeds]
    if missing:
      raise InputError(f"{self.function.path}: no value fed for input {missing[0]}")
    return self._run(*(feeds[n] for n in self.function.input_names))

  def run(self, output_names: Optional[Sequence[str]], feeds: dict) -> list:
    """The named outputs (all when None) as NumPy arrays, like InferenceSession.run."""
    outputs = dict(zip(self.function.output_names, self.run_device(feeds)))
    names = output_names or self.function.output_names
    return [np.asarray(outputs[n]) for n in names]
