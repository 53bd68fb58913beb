# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The allow-list unpickler that every reader of untrusted pickles builds on.

A pickle can name any importable global and call it, so loading one runs whatever the file asks
for. `AllowListUnpickler` never imports anything: a global resolves only to the stand-in its
subclass put in `allowed` (or returns from `extra_global`), and every other global, like every
persistent id, is refused with the subclass's own one-line error before anything is called.

Readers built on it: torch checkpoints (zip and legacy containers, lp_jax.weights) and motion
templates / the lip array (lp_jax.motion_template).
"""

import pickle
import typing


class AllowListUnpickler(pickle.Unpickler):
  """`pickle.Unpickler` that resolves globals against an allow-list only.

  Subclasses fill `self.allowed` ({(module, name): object handed to the pickle}) and implement
  `refuse`, which builds the exception for a refused global or persistent id. They may override
  `extra_global` for whole families of names (e.g. torch's storage classes) and
  `persistent_load` for formats that use persistent ids.
  """

  def __init__(self, file: typing.BinaryIO, **kwargs: typing.Any):
    super().__init__(file, **kwargs)
    self.allowed: dict[tuple[str, str], typing.Any] = {}

  def refuse(self, problem: str) -> Exception:
    """The exception (one line naming the file) to raise for `problem`; subclasses define it."""
    raise NotImplementedError

  def refuse_global(self, qualified_name: str) -> Exception:
    """The exception for the global `module.name` outside the allow-list."""
    return self.refuse(f"refused to unpickle global '{qualified_name}'")

  def extra_global(self, module: str, name: str) -> typing.Any:
    """A stand-in for a global not in `allowed`, or None to refuse it."""
    del module, name
    return None

  def find_class(self, module: typing.Any, name: typing.Any) -> typing.Any:
    """Resolves a pickle global against the allow-list; never imports anything."""
    target = None
    if isinstance(module, str) and isinstance(name, str):
      target = self.allowed.get((module, name))
      if target is None:
        target = self.extra_global(module, name)
    if target is None:
      raise self.refuse_global(f"{module}.{name}")
    return target

  def persistent_load(self, pid: typing.Any) -> typing.Any:
    del pid
    raise self.refuse("refused a persistent id")
