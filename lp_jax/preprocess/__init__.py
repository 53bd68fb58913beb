# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Host-side pre/post-processing: face crops, paste-back, eye/lip ratios and Kalman smoothing."""
