# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lp_jax.bench_host`: one JSON line per host-side stage, with positive times."""

import json

from lp_jax import bench_host


def test_host_stages_are_timed(capsys):
  assert bench_host.main(["--frames", "4"]) == 0
  lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [r["stage"] for r in lines] == ["decode", "driving_crop_512_to_256", "paste_back",
                                         "encode_512", "encode_pasted"]
  assert all(r["ms_per_frame"] > 0 for r in lines)
