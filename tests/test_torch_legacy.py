# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax.weights.torch_legacy against files written by real torch.save in the legacy (pre-1.6)
format: tensors, views and parameters read exactly; code in the pickle refused, never run."""

import os
import pickle

import numpy as np
import pytest

from lp_jax.weights import errors, torch_legacy

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


class _Evil:

  def __reduce__(self):
    return (os.system, ("echo pwned",))


def test_legacy_reader_matches_torch_and_refuses_code(tmp_path):
  base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
  obj = {"a": base, "view": base[1:, 2:5], "t": base.t(), "i": torch.arange(5),
         "p": torch.nn.Parameter(torch.ones(3, dtype=torch.float64)), "nested": [base[0], (7, "x")]}
  path = tmp_path / "legacy.pth"
  torch.save(obj, path, _use_new_zipfile_serialization=False)
  got = torch_legacy.load_legacy(str(path))
  for key in ("a", "view", "t", "i", "p"):
    want = obj[key].detach().numpy()
    assert got[key].dtype == want.dtype
    np.testing.assert_array_equal(got[key], want)
  np.testing.assert_array_equal(got["nested"][0], base[0].numpy())
  assert got["nested"][1] == (7, "x")

  # A legacy header followed by a pickle that would call os.system: refused, nothing runs.
  evil = tmp_path / "evil.pth"
  with open(evil, "wb") as f:
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
      pickle.dump(header, f, protocol=2)
    pickle.dump(_Evil(), f, protocol=2)
  with pytest.raises(errors.UnsafePickleError, match="posix.system|os.system") as e:
    torch_legacy.load_legacy(str(evil))
  assert "\n" not in str(e.value)
  truncated = tmp_path / "truncated.pth"
  truncated.write_bytes(path.read_bytes()[:-10])
  with pytest.raises(errors.CheckpointError, match="truncated"):
    torch_legacy.load_legacy(str(truncated))
