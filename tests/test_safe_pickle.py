# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The allow-list unpickler base: only allow-listed globals resolve, nothing else is imported or
called, persistent ids are refused, and subclasses choose the error."""

import collections
import io
import os
import pickle

import pytest

from lp_jax.io.safe_pickle import AllowListUnpickler


class Refused(ValueError):
  pass


class OnlyOrderedDict(AllowListUnpickler):
  """A minimal reader: OrderedDict allowed, anything named `*Token` of module `tok` stood in."""

  def __init__(self, data: bytes):
    super().__init__(io.BytesIO(data))
    self.allowed = {("collections", "OrderedDict"): collections.OrderedDict}

  def refuse(self, problem: str) -> Refused:
    return Refused(problem)

  def extra_global(self, module, name):
    return f"stand-in for {name}" if module == "tok" and name.endswith("Token") else None


class _Call:
  def __reduce__(self):
    return (os.system, ("echo should-never-run",))


class _PersistentPickler(pickle.Pickler):
  def persistent_id(self, obj):
    return "pid" if obj == "external" else None


def test_allowed_globals_resolve():
  data = pickle.dumps({"a": collections.OrderedDict(b=1), "c": [1, 2.0, "x", None]})
  assert OnlyOrderedDict(data).load() == {"a": collections.OrderedDict(b=1),
                                          "c": [1, 2.0, "x", None]}


def test_other_globals_are_refused_before_anything_runs(monkeypatch):
  data = pickle.dumps(_Call())
  calls = []
  monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
  with pytest.raises(Refused, match="refused to unpickle global '(posix|os|nt).system'"):
    OnlyOrderedDict(data).load()
  assert not calls
  with pytest.raises(Refused, match="refused to unpickle global 'builtins.eval'"):
    OnlyOrderedDict(b"cbuiltins\neval\n(S'1'\ntR.").load()


def test_extra_global_hook_and_persistent_ids():
  assert OnlyOrderedDict(b"ctok\nAToken\n.").load() == "stand-in for AToken"
  with pytest.raises(Refused, match="refused to unpickle global 'tok.Other'"):
    OnlyOrderedDict(b"ctok\nOther\n.").load()
  buf = io.BytesIO()
  _PersistentPickler(buf).dump(["external"])
  with pytest.raises(Refused, match="refused a persistent id"):
    OnlyOrderedDict(buf.getvalue()).load()
