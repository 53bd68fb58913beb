# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The project's shared folder beside the repository ($LP_SHARED elsewhere).

It holds golden/ (reference outputs of the official code) and assets/ (real photos and videos):
the tiny data config, the train-demo recipe, the web app's examples, the host benchmark's
defaults and the tests read them.
"""

import os

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.environ.get("LP_SHARED", os.path.join(_REPO, "..", "shared")))
SHARED_ASSETS = os.path.join(SHARED, "assets")
