# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The one error of media files, and the helper that keeps its message one line."""

import re

from lp_jax.errors import UserError


class MediaError(UserError, ValueError):
  """A bad input or output file; the message is one line that names the file."""


def one_line(text: str, limit: int = 200) -> str:
  """The last meaningful line of a tool's output, without ffmpeg's `[ctx @ 0x..]` prefixes."""
  lines = [re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", ln.strip()) for ln in text.splitlines()]
  lines = [ln for ln in lines if ln]
  return lines[-1][:limit] if lines else "no details"
