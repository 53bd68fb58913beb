# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The one error of motion-template files, and the helpers that keep its message one line."""

import os

from lp_jax.errors import UserError

_MAX_DETAIL = 160


def file_label(path) -> str:
  """`path` as text for a message (repr when it holds unprintable characters)."""
  text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
  # A name with a newline or control character would break the one-line message.
  return text if text.isprintable() else repr(text)


def shorten(text: str) -> str:
  """`text` on one line, cut to a readable length."""
  text = " ".join(str(text).split())
  return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL - 3] + "..."


def describe(exc: BaseException) -> str:
  """`Type: message` of a low-level exception, shortened, for wrapping it into one line."""
  text = shorten(str(exc))
  return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TemplateError(UserError, ValueError):
  """A template that is missing, unsafe, corrupt or not a motion template.

  Attributes:
    path: the file, as given.
    problem: what is wrong with it.
  """

  def __init__(self, path, problem: str):
    self.path = file_label(path)
    self.problem = " ".join(str(problem).split())
    super().__init__(f"{self.path}: {self.problem}")
