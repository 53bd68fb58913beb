# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The web app (`python -m lp_jax.app`): portrait animation, image retargeting and expression
editing, video retargeting; the official Gradio app's controls over lp_jax's pipeline."""
