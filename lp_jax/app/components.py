# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Gradio's Image and Video inputs with one-line errors for unreadable uploads.

Gradio decodes an uploaded image (or checks a video) before the event runs; a file that is not
one fails there with a multi-line "Could not preprocess input component ..." report. These
template subclasses (same front-end component, `is_template`) turn that into one `gr.Error` line
naming the file; Gradio passes `gr.Error` from preprocessing through unchanged.
"""

import os

import gradio as gr

from lp_jax.errors import first_line


def _name(payload) -> str:
  name = getattr(payload, "orig_name", None) or getattr(payload, "path", None) or "the upload"
  return os.path.basename(str(name))


class ImageInput(gr.Image):
  """gr.Image input; an unreadable upload is a one-line error."""
  is_template = True

  def preprocess(self, payload):
    try:
      return super().preprocess(payload)
    except gr.Error:
      raise
    except Exception:  # pylint: disable=broad-except
      raise gr.Error(f"{_name(payload)}: not a readable image", duration=None,
                     print_exception=False) from None


class VideoInput(gr.Video):
  """gr.Video input; an unreadable upload is a one-line error."""
  is_template = True

  def preprocess(self, payload):
    try:
      return super().preprocess(payload)
    except gr.Error:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise gr.Error(f"{_name(payload)}: not a readable video ({first_line(e)})",
                     duration=None, print_exception=False) from None
