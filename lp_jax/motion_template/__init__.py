# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Motion templates: the per-frame driving motion of a driving video, saved for reuse.

A motion template holds the per-frame driving motion (scale, rotation, expression, translation
and, from the current official code, canonical and transformed keypoints) plus the driving eye
and lip ratios. Modules: `template` (the MotionTemplate type and its checks), `official_pkl`
(the official LivePortrait `.pkl`, read with the allow-list unpickler of `numpy_pickle`), `npz`
(our pickle-free format), `formats` (load_template, by extension) and `lip_constant` (the
official neutral-lip constant). Every failure is a `errors.TemplateError` whose message is one
line: `<file>: <problem>`.
"""
