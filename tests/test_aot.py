# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Ahead-of-time compilation for TPU and GPU targets on this CPU machine (lp_jax.aot).

Needs the tpu and gpu-aot extras (make test installs them). Compiles a micro Stage II step
for a TPU v5e 2x2 and a micro Stage I step and the tiny W+G batch for two H100s, and checks
shardings, donation, the memory report, collectives, the roofline and the error paths.
Compile times (this 2-core machine) are printed: the TPU compiler is the slow one.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from lp_jax.aot import hlo, jobs, report, targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_tpu = pytest.mark.skipif(not targets.has_module("libtpu"), reason=targets.TPU_PIP)
needs_gpu = pytest.mark.skipif(not targets.has_module("jax_plugins.xla_cuda12"),
                               reason=targets.GPU_PIP)


@pytest.fixture(autouse=True, scope="module")
def _default_matmul_precision():
  """conftest asks for 'highest' (CPU parity); the AOT command compiles at JAX's default."""
  with jax.default_matmul_precision("default"):
    yield


def micro_config(stage: int):
  """The 'micro' config (configs/stage1.py: 64 px, no GAN, perceptual or auxiliary networks, one
  F res-block, a 2-level hourglass, 8-wide SPADE MLPs), with small leaves sharded over fsdp too
  (fsdp_min_size 256): a TPU compile takes seconds, not minutes."""
  from lp_jax_configs import stage1, stage2  # pylint: disable=g-import-not-at-top
  c = (stage1 if stage == 1 else stage2).get_config("micro")
  c.sharding.fsdp_min_size = 256
  c.batch_size = 4
  return c


def run_cli(*args, timeout=600) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  return subprocess.run([sys.executable, "-m", "lp_jax.aot", *args], capture_output=True,
                        text=True, cwd=ROOT, env=env, timeout=timeout)


def json_lines(text: str) -> list[dict]:
  return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def specs(tree) -> set:
  """PartitionSpecs of a tree of ShapeDtypeStructs / shardings."""
  out = set()
  for leaf in jax.tree.leaves(tree, is_leaf=lambda x: hasattr(x, "spec")):
    out.add(leaf.spec if hasattr(leaf, "spec") else leaf.sharding.spec)
  return out


# ------------------------------------------------------------------ tables, devices, parsing


@needs_tpu
@needs_gpu
def test_every_named_target_has_its_devices():
  for target in targets.TARGETS.values():
    devices = targets.devices(target)
    assert len(devices) == target.num_devices
    assert devices[0].platform == ("tpu" if target.platform == "tpu" else "gpu"), target.name
  assert targets.TARGETS["v5p-128"].num_devices == 64  # 128 TensorCores, megacore chips
  assert targets.TARGETS["2xv5e-256"].num_devices == 512


def test_bad_targets_are_one_line_errors(monkeypatch):
  with pytest.raises(targets.AotError, match=r"unknown target 'v9-8'; known targets: v4-8, "):
    targets.get_target("v9-8")
  monkeypatch.setattr(targets, "has_module", lambda name: False)
  with pytest.raises(targets.AotError, match=r"needs libtpu: pip install -e '\.\[tpu\]'"):
    targets.devices(targets.TARGETS["v5e-4"])
  with pytest.raises(targets.AotError, match=r"pip install -e '\.\[gpu-aot\]'"):
    targets.devices(targets.TARGETS["H100"])


@needs_tpu
def test_unknown_topology_names_the_libtpu_version():
  bad = targets.Target("v9-4", "tpu", "tpu_v5e", "v9:2x2", "test")
  with pytest.raises(targets.AotError, match=r"^libtpu \S+ does not know topology 'v9:2x2'"):
    targets.devices(bad)


def test_collectives_and_bytes_from_hlo_text():
  text = """
  %p0 = f32[8,128]{1,0} parameter(0)
  %p1 = bf16[4,4]{1,0} parameter(1)
  %all-reduce-start = f32[8,128]{1,0} all-reduce-start(%p0), channel_id=1, to_apply=%add
  %all-reduce-done = f32[8,128]{1,0} all-reduce-done(%all-reduce-start)
  %ag = (bf16[4,4]{1,0}, bf16[8,4]{1,0}) all-gather-start(bf16[4,4]{1,0} %p1), dimensions={0}
  %ag.done = bf16[8,4]{1,0} all-gather-done(%ag)
  ROOT %cp = f32[8,128]{1,0:T(8,128)} collective-permute(%p0), source_target_pairs={{0,1}}
  """
  assert hlo.collectives(text) == {"all-gather": {"count": 1, "bytes": 32},
                                   "all-reduce": {"count": 1, "bytes": 4096},
                                   "collective-permute": {"count": 1, "bytes": 4096}}
  assert hlo.shape_bytes("(f32[2,3]{1,0}, s8[5], pred[])") == 24 + 5 + 1


def test_tpu_cost_model_sums_the_compilers_cycles_per_network():
  cfg = lambda cycles: ('backend_config={"window_config":{"estimated_cycles":"%d",'
                        '"ml_estimated_microseconds":0}}' % cycles)
  text = f"""
%fused_computation.1 (p: bf16[8,64]) -> bf16[8,64] {{
  %p = bf16[8,64]{{1,0}} parameter(0)
  ROOT %c = bf16[8,64]{{1,0}} convolution(%p, %p), metadata={{op_name="jit(step)/jvp(WarpingNetwork)/mask/conv_general_dilated"}}
}}

ENTRY %main (a: bf16[8,64]) -> bf16[8,64] {{
  %a = bf16[8,64]{{1,0}} parameter(0)
  %fusion.1 = bf16[8,64]{{1,0}} fusion(%a), kind=kOutput, calls=%fused_computation.1, {cfg(3000)}
  %reduce.2 = bf16[8]{{0}} reduce(%a), metadata={{op_name="jit(step)/transpose(jvp(SPADEDecoder))/norm/reduce_sum"}}, {cfg(1500)}
  %copy.3 = bf16[8,64]{{0,1}} copy(%a), metadata={{op_name="jit(render)/SPADEDecoder/up_0/transpose"}}, {cfg(500)}
  ROOT %t = (bf16[8,64]{{1,0}}) tuple(%fusion.1)
}}
"""
  est = hlo.tpu_cost_model(text, clock_hz=1e3, top=2)
  assert est["seconds"] == 5.0 and est["instructions"] == 3 and not est["loops"]
  # A fusion without metadata of its own takes its fused computation's op name.
  assert est["by_network_s"] == {"WarpingNetwork forward": 3.0, "SPADEDecoder backward": 1.5,
                                 "SPADEDecoder forward": 0.5}
  assert est["by_kind_s"] == {"conv / matmul": 3.0, "reduce": 1.5,
                              "elementwise / layout": 0.5}
  assert [o["instruction"] for o in est["top_ops"]] == ["fusion.1", "reduce.2"]
  assert hlo.tpu_cost_model(text.replace("estimated_cycles", "other"), 1e3) is None


# ------------------------------------------------------------------ compiled programs


@needs_tpu
def test_micro_stage2_step_for_tpu_v5e_2x2():
  # Plain data parallelism: a (data 2, fsdp 2) mesh triples the TPU compile time here; the
  # fsdp shardings are compiled in the H100 Stage I test below.
  target = targets.TARGETS["v5e-4"]
  program = jobs.training_program(micro_config(2), target, targets.devices(target))
  rec = report.compile_program(program, target, "stage2")
  print(f"\nTPU v5e 2x2 micro Stage II step: compile {rec['compile_s']} s")
  assert rec["mesh"] == {"data": 4, "fsdp": 1} and rec["global_batch"] == 4
  state, batch, base, _ = program.args
  assert specs(batch) == {P(("data", "fsdp"))}  # the batch over data x fsdp
  assert specs(state.params) == specs(base) == {P()}  # replicated (fsdp 1)
  compiled_in = program.fn.lower(*program.args).compile().input_shardings[0]
  assert specs(compiled_in[1]) == {P(("data", "fsdp"))}
  mem = rec["memory"]
  assert mem["alias_bytes"] > 0  # the state is donated: updated in place
  assert 0 < mem["total_bytes"] < mem["capacity_bytes"] == 16 * 2 ** 30 and mem["fits"]
  assert mem["code_bytes"] > 0 and mem["temp_bytes"] > 0
  assert rec["cost"]["flops"] > 0 and rec["cost"]["bytes_accessed"] > 0
  assert rec["collectives"]["all-reduce"]["count"] > 0  # gradients summed over the batch
  # Source and driving through M, the four renders through W + G: interleaved, so nothing is
  # exchanged all-to-all. What moves is the cross-identity pairing's roll of the batch (each
  # sample takes another's driving keypoints): a few small collective-permutes.
  assert not {"all-to-all", "all-gather"} & set(rec["collectives"])
  # W's per-frame gathers (TPU's form) take each device's own frames: gathers per frame of the
  # whole batch added 108 permutes here (117, 0.31 MB, against 9 and 2 kB).
  permutes = rec["collectives"].get("collective-permute", {"count": 0, "bytes": 0})
  assert permutes["count"] <= 16 and permutes["bytes"] < 2 ** 14, permutes
  roof = rec["roofline"]
  assert roof["step_s"] == max(roof["compute_s"], roof["memory_s"], roof["collectives_s"]) > 0
  assert roof["ms_per_sample"] == pytest.approx(1e3 * roof["step_s"], rel=1e-3)  # 1 / device
  # XLA:TPU's own estimate, attributed to the networks the gradients pass through.
  est = rec["tpu_cost_model"]
  assert est["seconds"] == pytest.approx(sum(est["by_network_s"].values()), rel=1e-3)
  assert {"WarpingNetwork forward", "WarpingNetwork backward",
          "SPADEDecoder backward"} <= set(est["by_network_s"])
  assert est["ms_per_sample"] == pytest.approx(1e3 * est["seconds"], rel=1e-3)


@needs_gpu
def test_tiny_wg_batch_for_two_h100():
  target = targets.TARGETS["2xH100"]
  program = jobs.infer_program(target, targets.devices(target), 2, "fp16", "tiny")
  rec = report.compile_program(program, target, "infer")
  print(f"\n2x H100 tiny W+G fp16 batch 2 per device: compile {rec['compile_s']} s")
  assert rec["global_batch"] == 4 and rec["precision"] == "fp16"
  fn_shardings = program.fn.lower(*program.args).compile().input_shardings[0]
  assert fn_shardings[4].spec == P("data") and fn_shardings[2].spec == P()  # frames split
  assert rec["collectives"] == {}  # frames are independent: nothing crosses devices
  assert 0 < rec["memory"]["total_bytes"] < 2 ** 30 and rec["memory"]["alias_bytes"] == 0
  assert rec["memory"]["output_bytes"] == 2 * 512 * 512 * 3  # uint8 frames of this device
  assert rec["cost"]["flops"] > 1e9 and rec["roofline"]["ms_per_frame"] > 0
  assert "tpu_cost_model" not in rec  # XLA:GPU's module carries no cycle estimates
  # fp32 needs more memory and more time than fp16 for the same batch.
  rec32 = report.compile_program(jobs.infer_program(target, targets.devices(target), 2, "fp32",
                                                    "tiny"), target, "infer")
  assert rec32["memory"]["temp_bytes"] > rec["memory"]["temp_bytes"]
  assert rec32["roofline"]["step_s"] > rec["roofline"]["step_s"]


@needs_gpu
def test_warp_job_with_a_kernel_form_replaced():
  """--job warp compiles W alone; --kernel_form replaces one of the target's layer forms."""
  target = targets.TARGETS["H100"]
  build = lambda **kw: jobs.infer_program(target, targets.devices(target), 2, "fp32", "tiny",
                                          warp_only=True, **kw)
  separable = build(overrides=jobs.forms_overrides({"separable_sparse_motion": True}))
  gathers = build()  # H100's row: the official gathers
  assert separable.name == "w_batch" and separable.global_batch == 2
  count = lambda p: p.fn.lower(*p.args).compile().as_text().count(" gather(")
  assert 0 < count(separable) < count(gathers)
  with pytest.raises(targets.AotError, match="not a KernelForms field"):
    jobs.forms_overrides({"separable_motion": False})


@needs_gpu
def test_micro_stage1_step_for_two_h100_with_fsdp():
  c = micro_config(1)
  with c.unlocked():
    c.mesh = [("data", 1), ("fsdp", 2)]
    c.mixed_precision = True
  target = targets.TARGETS["2xH100"]
  program = jobs.training_program(c, target, targets.devices(target), per_device_batch=2)
  rec = report.compile_program(program, target, "stage1")
  print(f"\n2x H100 micro Stage I step (bf16, fsdp 2): compile {rec['compile_s']} s")
  assert rec["program"] == "stage1_step" and rec["precision"] == "bf16"
  assert rec["global_batch"] == 4 and rec["memory"]["alias_bytes"] > 0 and rec["memory"]["fits"]
  state = program.args[0]
  assert any("fsdp" in str(s) for s in specs(state.generator.params))  # ZeRO-3 over fsdp
  assert any("fsdp" in str(s) for s in specs(state.discriminator.opt_state))
  # Sharded parameters are gathered for use and their gradients reduced.
  assert rec["collectives"]["all-gather"]["count"] > 0
  assert ({"all-reduce", "reduce-scatter"} & set(rec["collectives"]))
  # M's three streams go through it interleaved (training/streams.py): no sample moves. (The
  # all-to-alls here are FSDP's: G's spectral-norm power iterations over fsdp-sharded kernels.)
  assert "collective-permute" not in rec["collectives"]


# ------------------------------------------------------------------ fitting, --max_batch


@needs_gpu
def test_max_batch_on_gpu_compares_memory_with_the_card():
  target = targets.TARGETS["RTX4090"]

  def build(b):
    devices = targets.devices(target)
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, P())
    fn = jax.jit(lambda x: jnp.sum(x * 2.0), in_shardings=sharding, out_shardings=sharding)
    arg = jax.ShapeDtypeStruct((b, 2 ** 28), jnp.float32)  # b GiB
    return jobs.Program("gib_args", fn, (arg,), {"data": 1}, b, b, "fp32", "sample")

  seen = []
  found = report.max_batch(build, target, "test", limit=64, emit=seen.append)
  assert found["per_device_batch"] == 23  # 24 GiB card, b GiB of arguments + a little more
  # Two compiles give the line, the third is its prediction, the fourth proves the edge
  # (doubling and bisection took 10: 1, 2, 4, 8, 16, 32, 24, 20, 22, 23).
  assert [r["per_device_batch"] for r in seen] == [1, 2, 23, 24]
  assert found["compiles"] == 4
  # Started near the edge, the line comes from the first two compiles there.
  seen.clear()
  assert report.max_batch(build, target, "test", 64, seen.append, start=20)["per_device_batch"] == 23
  assert [r["per_device_batch"] for r in seen] == [20, 21, 23, 24]
  with pytest.raises(report.DoesNotFit,
                     match=r"needs 24\.001 GiB per device, GeForce RTX 4090 has 24\.0 GiB"):
    report.compile_program(build(24), target, "test")


@needs_tpu
def test_max_batch_on_tpu_recovers_when_the_compiler_refuses_the_predicted_batch():
  """Memory that is not affine in the batch: the TPU layout pads 5 to 7 rows of this array to
  8 (16 GiB in + out from batch 5 on), so the line through batches 1 and 2 predicts 7 and the
  compiler refuses it; the search bisects from there and still proves the edge."""
  target = targets.TARGETS["v5e-1"]

  def build(b):
    devices = targets.devices(target)
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, P())
    fn = jax.jit(lambda x: x * 2.0, in_shardings=sharding, out_shardings=sharding)
    arg = jax.ShapeDtypeStruct((b, 2 ** 28), jnp.float32)  # b GiB in, b GiB out
    return jobs.Program("gib_in_out", fn, (arg,), {"data": 1}, b, b, "fp32", "sample")

  seen = []
  found = report.max_batch(build, target, "test", limit=64, emit=seen.append)
  assert found["per_device_batch"] == 4
  assert found["report"]["memory"]["total_gib"] == 8.0
  outcome = {r["per_device_batch"]: r["event"] for r in seen}
  assert outcome[5] == "does_not_fit" and outcome[7] == "does_not_fit"  # 7: the line's guess
  assert all(e == "compiled" for b, e in outcome.items() if b <= 4)
  assert found["compiles"] == len(seen) <= 6


def test_the_line_through_two_compiles_predicts_the_largest_batch_that_fits():
  gib = 2.0 ** 30
  # Below the capacity only: extrapolate from the two largest.
  assert report.predict_fit({1: 3 * gib, 2: 5 * gib}, 16 * gib) == 7
  assert report.predict_fit({1: 3 * gib, 2: 5 * gib, 4: 9.5 * gib}, 16 * gib) == 6
  # Straddling it: the largest fit and the smallest miss.
  assert report.predict_fit({2: 5 * gib, 8: 17 * gib, 16: 40 * gib}, 16 * gib) == 7
  # Above it only: a batch of 1 may still be the answer.
  assert report.predict_fit({2: 20 * gib, 4: 36 * gib}, 16 * gib) == 1
  # One point, or memory that does not grow with the batch: no prediction.
  assert report.predict_fit({1: 3 * gib}, 16 * gib) is None
  assert report.predict_fit({1: 3 * gib, 2: 3 * gib}, 16 * gib) is None
  # A refused TPU compile says how much memory the chip really has for a program.
  refused = {"event": "does_not_fit", "compiler_report": [
      "RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO "
      "temporaries (16.00G) exceeds available HBM (15.75G)."]}
  assert report.usable_bytes(refused) == 15.75 * gib
  assert report.usable_bytes({"event": "compiled"}) is None


@needs_tpu
def test_tpu_resource_exhausted_is_a_report_not_a_traceback():
  target = targets.TARGETS["v5e-1"]
  devices = targets.devices(target)
  mesh = jax.sharding.Mesh(np.array(devices), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, P())
  fn = jax.jit(lambda x: x * 2.0, in_shardings=sharding, out_shardings=sharding)
  arg = jax.ShapeDtypeStruct((12, 2 ** 28), jnp.float32)  # 12 GiB in, 12 GiB out
  program = jobs.Program("too_big", fn, (arg,), {"data": 1}, 12, 12, "fp32", "sample")
  with pytest.raises(report.DoesNotFit, match="does not fit TPU v5e") as info:
    report.compile_program(program, target, "test")
  assert info.value.record["event"] == "does_not_fit"
  assert any("RESOURCE_EXHAUSTED" in line or "HBM" in line
             for line in info.value.record["compiler_report"])


# ------------------------------------------------------------------ the command


@needs_gpu
def test_face_models_for_an_h100(tmp_path):
  """--job faces compiles the three ONNX face models (the golden's stand-ins) as JAX programs,
  with per-frame FLOPs, bytes and temporary memory; fp32 only; a folder without them is a line."""
  proc = run_cli("--target", "H100", "--job", "faces", "--batch_sizes", "2")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = json_lines(proc.stdout)
  assert [r["program"] for r in lines] == ["det_10g", "2d106det", "landmark"]
  for r in lines:
    assert r["event"] == "compiled" and r["memory"]["fits"] and r["per_device_batch"] == 2
    assert r["per_frame"]["flops"] == r["cost"]["flops"] / 2 > 0
    assert r["per_frame"]["bytes_accessed"] > 0 and r["roofline"]["ms_per_frame"] > 0
  proc = run_cli("--target", "H100", "--job", "faces", "--precision", "bf16")
  assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
      "error: --job faces --precision bf16: this job compiles in fp32 (the ONNX graphs' "
      "precision; the frame ops' OpenCV arithmetic)")
  proc = run_cli("--target", "H100", "--job", "faces", "--face_models", str(tmp_path))
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      f"error: {tmp_path}: no det_10g.onnx (flat, or at insightface/models/buffalo_l/"
      "det_10g.onnx as in pretrained_weights/)")


@needs_gpu
def test_frame_ops_for_an_h100():
  """--job frames compiles the device paste-back and driving crops (--frame_ops device) at a
  given frame size: memory-bound, microseconds per frame next to W+G's milliseconds."""
  proc = run_cli("--target", "H100", "--job", "frames", "--frame_size", "640x360")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = json_lines(proc.stdout)
  assert [r["program"] for r in lines] == ["paste_back_shared", "paste_back_per_frame",
                                          "driving_crop", "driving_resize_512"]
  shared = lines[0]
  # At least the frame read and written, the crop read, and the float32 mask read once.
  assert shared["per_frame"]["bytes_accessed"] >= 640 * 360 * 3 * 6 + 512 * 512 * 3
  assert all(r["memory"]["fits"] and r["roofline"]["bound"] == "memory" for r in lines)
  assert all(r["roofline"]["ms_per_frame"] < 0.1 for r in lines)
  proc = run_cli("--target", "H100", "--job", "frames", "--frame_size", "720p")
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: --frame_size '720p': expected WIDTHxHEIGHT, e.g. 1280x720")


@needs_tpu
def test_cli_errors_are_one_line():
  proc = run_cli("--target", "v9-8")
  assert proc.returncode == 1 and proc.stdout == ""
  assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown target 'v9-8'; known")
  proc = run_cli("--target", "v5e-4", "--job", "stage1")
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: --job stage1 needs --config configs/stage1.py (optionally :tiny)")
  proc = run_cli("--target", "v5e-4", "--job", "stage1", "--config", "configs/stage1.py:tiny",
                 "--mesh", "data=3,fsdp=1")
  assert proc.returncode == 1 and "needs 3 devices, have 4" in proc.stderr.splitlines()[-1]


@needs_gpu
def test_cli_does_not_fit_prints_the_memory_report_and_fails():
  proc = run_cli("--target", "RTX4090", "--job", "infer", "--model_config", "tiny",
                 "--batch_sizes", "2,600", "--precision", "fp32")
  assert proc.returncode == 1, proc.stderr[-2000:]
  lines = json_lines(proc.stdout)
  assert [r["event"] for r in lines] == ["compiled", "does_not_fit"]
  assert lines[1]["memory"]["total_bytes"] > lines[1]["memory"]["capacity_bytes"] == 24 * 2 ** 30
  assert "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith("error: wg_batch at per-device batch "
                                                         "600 needs ")
