# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Portrait animation on top of the networks: options, driving keypoints, the pipeline."""
