# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Writing a template file so that a reader never sees it half written."""

from lp_jax.io import outputs
from lp_jax.motion_template.errors import TemplateError, describe


def atomic_write(path, write, label: str):
  """lp_jax.io.outputs.write_file, with a failure to write as a TemplateError naming `label`."""
  try:
    outputs.write_file(path, write)
  except OSError as e:
    raise TemplateError(label, f"cannot be written ({describe(e)})") from e
