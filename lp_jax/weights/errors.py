# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The weights layer's errors: one line each, naming the file."""

import os
import typing

from lp_jax.errors import UserError


class CheckpointError(UserError, ValueError):
  """A checkpoint could not be read; the message is one line naming the file."""

  def __init__(self, path: typing.Any, what: str):
    # Messages end up in logs and CLI output where a stray newline (from a path or a wrapped
    # exception) would split one failure into several confusing lines.
    text = f'{os.fspath(path) if isinstance(path, os.PathLike) else path}: {what}'
    super().__init__(text.replace('\r', '\\r').replace('\n', '\\n'))


class UnsafePickleError(CheckpointError):
  """The pickle asked for a global outside the allow-list; nothing was called."""


class ConversionError(UserError):
  """A conversion that must not write anything; `problems` lists one line per problem."""

  def __init__(self, message: str, problems: list[str] | None = None):
    super().__init__(message)
    self.problems = problems or []


def describe(exc: BaseException) -> str:
  """Returns ``Type: message`` for wrapping a low-level exception into one line."""
  message = str(exc)
  return f'{type(exc).__name__}: {message}' if message else type(exc).__name__
