# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The errors a user can fix, and the one-line message every command prints for them.

A command catches `UserError` alone: `error: <first line>` on stderr and exit status 1. Anything
else is a bug and keeps its traceback, so a shape error is never mistaken for a bad input.
The modules' own errors (MediaError, TemplateError, CheckpointError, ConversionError,
ConfigError, DataError, EvalError, AotError, OfficialError) subclass it. This module imports
nothing heavy: the ahead-of-time compiler's environment and the web app use it too.
"""

import sys


class UserError(Exception):
  """A bad input, flag, file or configuration value; the message names it, on one line."""


class InputError(UserError, ValueError):
  """A bad flag, option or file content; still a ValueError for callers that catch one."""


class MissingFileError(UserError, FileNotFoundError):
  """A file or folder the user named is not there; still a FileNotFoundError."""


def config_variant(get_config, arg):
  """`get_config(arg)` of a configs/ module, an unknown variant the user named as an InputError.

  The variant builders (configs/, lp_jax.models.variants) raise a plain ValueError, as
  ml_collections config files do; a command that takes the variant from its user calls them here.
  """
  try:
    return get_config(arg)
  except ValueError as e:
    raise InputError(str(e)) from None


def first_line(e: BaseException) -> str:
  """The first non-blank line of `e`'s message (its type name if it has none)."""
  for line in str(e).splitlines():
    if line.strip():
      return line.strip()
  return type(e).__name__


def report(e: BaseException) -> int:
  """Prints `error: <first line of e>` on stderr; returns the exit status, 1."""
  print(f"error: {first_line(e)}", file=sys.stderr, flush=True)
  return 1
