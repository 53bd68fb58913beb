# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Image and video input / output, one concept per module, and the safe unpickler base.

kinds (what an input path is), images (still images), probe (what ffmpeg reports about a video,
and the audio choice), video_reader (threaded decode), video_writer (threaded encode and audio
muxing), gif, outputs (atomic writes), ffmpeg (the bundled binary), errors (MediaError,
one line naming the file), and safe_pickle (the allow-list unpickler that every reader of
untrusted pickles builds on).

Decoding and encoding run on background threads behind bounded queues: they overlap with
inference, and a video of any length streams through constant memory.
"""
