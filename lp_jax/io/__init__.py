# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Image and video input / output: classification, streaming decode / encode, audio muxing."""
