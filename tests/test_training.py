# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Training: meshes and shardings, Stage I / II on real data, checkpoints
(kill and resume), two processes with jax.distributed, init from / export to the official
layout. Everything runs the 'tiny' configs on CPU."""

import os
import signal
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import ROOT, SHARED

from lp_jax_configs import models as model_configs
from lp_jax_configs import stage1, stage2
from lp_jax import data, weights
from lp_jax.models import auxiliary
from lp_jax.training import checkpoint, evaluate, loop, metrics, pretrained, stages
from lp_jax.training import mesh as mesh_lib
from lp_jax.training import run as run_lib
from lp_jax.training import step as step_lib
from lp_jax.weights import export as weights_export

ASSETS = os.path.join(SHARED, "assets")


# ---------------------------------------------------------------- helpers


def tiny_config(stage: int = 1, variant: str = "tiny", **overrides):
  """The tiny (or micro) Stage I / II config on the sample assets (ASSETS), with dotted-path
  overrides."""
  c = (stage1 if stage == 1 else stage2).get_config(variant)
  c.data.root = ASSETS
  c.num_devices = 1
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
  """A persistent XLA cache shared by this module and its subprocesses: the same step compiled
  by several runs (kill / resume, two processes) is compiled once."""
  path = str(tmp_path_factory.mktemp("xla_cache"))
  old = {k: getattr(jax.config, k) for k in ("jax_compilation_cache_dir",
                                             "jax_persistent_cache_min_compile_time_secs",
                                             "jax_persistent_cache_min_entry_size_bytes")}
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  yield path
  for k, v in old.items():
    jax.config.update(k, v)


def subprocess_env(cache_dir: str, devices: int = 1) -> dict:
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_COMPILATION_CACHE_DIR=cache_dir, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", LP_SHARED=SHARED)
  return env


def train_cmd(workdir, config="configs/stage1.py:micro", num_devices=1, **flags):
  args = [sys.executable, os.path.join(ROOT, "train.py"), f"--config={config}",
          f"--workdir={workdir}", f"--config.data.root={ASSETS}",
          f"--config.num_devices={num_devices}"]
  return args + [f"--config.{k}={v}" for k, v in flags.items()]


def read_metrics(workdir) -> dict[int, dict]:
  """{step: record}; a step logged twice (before a kill and after the resume) keeps the last."""
  return {r["step"]: r for r in metrics.read_jsonl(os.path.join(workdir, "metrics.jsonl"))}


def losses_of(record: dict) -> dict:
  return {k: v for k, v in record.items() if k.startswith("loss/")}


# ---------------------------------------------------------------- fast unit tests


def test_mesh_shape_and_sharding_rules():
  assert mesh_lib.mesh_shape([("data", -1), ("fsdp", 2)], 8) == (("data", "fsdp"), (4, 2))
  with pytest.raises(ValueError, match="not divisible"):
    mesh_lib.mesh_shape([("data", -1), ("fsdp", 3)], 8)
  cfg = ml_collections.ConfigDict(dict(mesh=[("data", 4), ("fsdp", 2)]))
  mesh = mesh_lib.create_mesh(cfg)
  assert dict(mesh.shape) == {"data": 4, "fsdp": 2}
  rules = ml_collections.ConfigDict(dict(rules=[("norm", "replicate"), (".*", "fsdp")],
                                         fsdp_min_size=16))
  P = jax.sharding.PartitionSpec
  assert mesh_lib.leaf_spec("conv/kernel", (3, 3, 8, 6), mesh, rules) == P(None, None, "fsdp", None)
  assert mesh_lib.leaf_spec("norm/scale", (64,), mesh, rules) == P()
  assert mesh_lib.leaf_spec("fc/bias", (8,), mesh, rules) == P()  # below fsdp_min_size
  assert mesh_lib.leaf_spec("fc/kernel", (7, 5), mesh, rules) == P()  # nothing divisible
  assert mesh_lib.batch_sharding(mesh).spec == P(("data", "fsdp"))


def test_nonfinite_names_step_and_term():
  metrics.check_finite(3, {"loss/total": 1.0, "loss/gan": 2.0})
  with pytest.raises(FloatingPointError, match=r"non-finite loss/perceptual at step 7"):
    metrics.check_finite(7, {"loss/total": float("nan"), "loss/perceptual": float("inf"),
                             "l2_grads/generator": float("nan"), "loss/gan": 1.0})


def test_stage_objects_follow_the_config():
  one, two = stages.for_config(tiny_config(1)), stages.for_config(tiny_config(2))
  assert isinstance(one, stages.Stage1) and one.step_fn is step_lib.stage1_step
  assert isinstance(two, stages.Stage2) and two.step_fn is step_lib.stage2_step
  bad = tiny_config(1)
  bad.stage = 3
  with pytest.raises(ValueError, match="stage must be 1 or 2"):
    stages.for_config(bad)
  assert stages.aux_kinds(tiny_config(1)) == auxiliary.PRETRAINED_KINDS  # 'random' in tiny
  assert stages.aux_kinds(tiny_config(2)) == ()
  paths = tiny_config(1, aux_init="paths", **{"aux.paths.hopenet": "/weights/hopenet"})
  assert stages.aux_kinds(paths) == ("hopenet",)
  # Stage II without init_from: a fresh state is left as it is (no networks to fine-tune from).
  marker = object()
  assert two.apply_init_from(marker, None, None) is marker


def test_stage2_mlps_trained_from_scratch_start_as_the_identity():
  """A fresh Stage II state's stitching / eye / lip MLPs give a zero offset for any input (a
  random one would move every keypoint), while their hidden layers are random as PyTorch's."""
  for zero, config in ((True, tiny_config(2)), (False, tiny_config(2, zero_init_offsets=False))):
    setup = stages.for_config(config).setup()
    params = setup.init_fn(jax.random.key(0)).params
    for name in ("stitching", "eye", "lip"):
      module = getattr(setup.models, name)
      x = jax.random.normal(jax.random.key(1), (4, module.input_size))
      out = module.apply({"params": params[name]}, x)
      assert bool(jnp.any(out != 0)) is not zero, (name, zero)
      assert float(jnp.std(params[name]["mlp.0"]["kernel"])) > 0.01


def test_torn_checkpoint_is_never_chosen(tmp_path):
  """A checkpoint directory a kill left half-written is ignored (and cleaned up)."""
  cfg = ml_collections.ConfigDict({"a": 1})
  state = {"w": jnp.arange(4.0), "step": jnp.int32(0)}
  ckpt = checkpoint.Checkpointer(str(tmp_path), save_every=2, keep=2)
  for step in (2, 4, 6):
    ckpt.save(step, {**state, "step": jnp.int32(step)}, None, cfg)
  ckpt.close()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["4", "6"]  # keep 2
  # What a SIGKILL during the async write of step 8 leaves: the temporary directory only.
  torn = tmp_path / "checkpoints" / "8.orbax-checkpoint-tmp-1234"
  (torn / "state").mkdir(parents=True)
  (torn / "state" / "garbage").write_bytes(b"\0" * 10)
  ckpt = checkpoint.Checkpointer(str(tmp_path), save_every=2, keep=2)
  assert ckpt.latest_step() == 6
  restored = ckpt.restore(6, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                                          state), None)
  assert int(restored["step"]) == 6
  ckpt.close()


# ---------------------------------------------------------------- one step on two meshes


@pytest.mark.slow
def test_same_step_on_one_and_eight_devices():
  """data 4 x fsdp 2 on 8 fake devices == one device, with the shardings the rules promise."""
  P = jax.sharding.PartitionSpec
  results = {}
  for n, spec in ((1, [("data", 1), ("fsdp", 1)]), (8, [("data", 4), ("fsdp", 2)])):
    cfg = tiny_config(1, "micro", batch_size=8, num_devices=n, mesh=spec)
    cfg.sharding.fsdp_min_size = 512  # small enough that the tiny nets' kernels get sharded
    batch = next(iter(data.make_train_dataset(cfg.data, global_batch_size=8, process_index=0,
                                              process_count=1)))
    mesh = mesh_lib.create_mesh(cfg, jax.devices()[:n])
    run = run_lib.build(cfg, mesh, jax.random.key(0))
    train_step = step_lib.jit_step(step_lib.stage1_step, models=run.models,
                                   loss_config=cfg.loss, mesh=mesh,
                                   state_shardings=run.shardings,
                                   extra_shardings=run.extra_shardings)
    gb = mesh_lib.global_batch(batch, mesh)
    for x in jax.tree.leaves(gb):
      assert x.sharding.spec == P(("data", "fsdp")) and x.shape[0] == 8
    state, metrics = train_step(run.state, gb, run.extra, jax.random.key(1))
    # The new state comes back with exactly the rule-derived shardings.
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(run.shardings)):
      assert got.sharding.is_equivalent_to(want, got.ndim)
    if n == 8:
      kernel = state.generator.params["spade_generator"]["fc"]["kernel"]  # [3, 3, 32, 64]
      assert kernel.sharding.spec == P(None, None, None, "fsdp")
      mu = state.generator.opt_state[0].mu["spade_generator"]["fc"]["kernel"]
      assert mu.sharding.spec == P(None, None, None, "fsdp")  # Adam moments follow their param
      assert len(kernel.addressable_shards) == 8 and kernel.addressable_shards[0].data.shape == (
          3, 3, 32, 32)
      sharded = [x for x in jax.tree.leaves(state.generator.params) if "fsdp" in
                 str(x.sharding.spec)]
      assert len(sharded) > 10
    results[n] = jax.device_get((state, metrics))
  (s1, m1), (s8, m8) = results[1], results[8]
  for k in m1:
    np.testing.assert_allclose(m8[k], m1[k], rtol=2e-4, atol=1e-5, err_msg=k)
  # BatchNorm statistics are over the global batch on both meshes.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
               s1.generator.model_state, s8.generator.model_state)
  # Adam's first step moves each weight by ~lr * sign(grad): a gradient that is ~0 may flip sign
  # between summation orders, so parameters agree to a fraction of lr, not to float epsilon.
  lr = 2e-4
  diffs = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))),
                                       s1.generator.params, s8.generator.params))
  assert max(diffs) <= 2.01 * lr
  close = np.mean([d < 1e-6 for d in diffs])
  assert close > 0.5, f"only {close:.0%} of the parameter leaves agree to 1e-6"


# ---------------------------------------------------------------- Stage I: learn, kill, resume


@pytest.mark.slow
def test_stage1_trains_and_resumes_exactly_after_sigkill(tmp_path, compilation_cache):
  """Uninterrupted run vs. a run SIGKILLed in its last step and restarted: identical losses.

  Five steps with a checkpoint every two: the kill comes in step 5, after the step-4 checkpoint
  was started, so the resume starts from step 4 or, if that save was torn, step 2.
  """
  env = subprocess_env(compilation_cache)
  steps, every = 5, 2
  ref, killed = str(tmp_path / "ref"), str(tmp_path / "killed")
  kw = dict(total_steps=steps, **{"checkpoint.every": every})
  proc = subprocess.run(train_cmd(ref, **kw), env=env, capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  ref_m = read_metrics(ref)
  assert sorted(ref_m) == list(range(1, steps + 1))

  proc = subprocess.run(train_cmd(killed, **kw, **{"debug.kill_at_step": steps - 1}), env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  before = read_metrics(killed)
  assert max(before) == steps - 1  # the step being run when killed (the last) never logged
  proc = subprocess.run(train_cmd(killed, **kw), env=env, capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  resumed_from = [int(line.split("resuming at step ")[1].split()[0])
                  for line in proc.stderr.splitlines() if "resuming at step" in line]
  assert resumed_from and resumed_from[0] in (2, 4), resumed_from
  after = read_metrics(killed)
  for s in range(resumed_from[0] + 1, steps + 1):
    assert losses_of(after[s]) == losses_of(ref_m[s]), s  # bit-exact: same batches, same RNG
  assert {int(d) for d in os.listdir(os.path.join(killed, "checkpoints"))
          if d.isdigit()} >= {steps}
  # Export the trained tiny generator to the official layout and read it back.
  pytest.importorskip("torch")
  raw, step = checkpoint.restore_state_only(ref)
  assert step == steps
  trained = pretrained.networks_of_state(raw)
  official = str(tmp_path / "official")
  converted = str(tmp_path / "converted")
  files = weights_export.export_trained(jax.device_get(trained), converted, official,
                                       model_variant="micro")
  assert {os.path.basename(f) for f in files} == {
      "appearance_feature_extractor.pth", "motion_extractor.pth", "warping_module.pth",
      "spade_generator.pth"}
  back, _ = weights.load_variables(official, model_configs.get_config("micro"))
  jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, trained))
  # A new run initialised from the exported weights starts from exactly those networks (the
  # full-size version of this, from converted official files, is a `table` test).
  cfg = tiny_config(1, "micro")
  cfg.init_from = converted
  run = run_lib.build(cfg, mesh_lib.create_mesh(cfg, jax.devices()[:1]), jax.random.key(0))
  got = run.networks(run.apply_init_from(run.state))
  for name in stages.GENERATOR_NETWORKS:
    jax.tree.map(np.testing.assert_array_equal, got[name], jax.tree.map(np.asarray,
                                                                        trained[name]))
  # Self-reenactment eval of the trained model on the held-out clip (driving/d0.mp4).
  result = evaluate.evaluate_config(tiny_config(1, "micro"), trained)
  assert result["eval/frames"] == 7  # 8 eval frames, the first is the source
  assert 0 < result["eval/psnr"] < 100 and -1 < result["eval/ssim"] < 1
  assert 0 < result["eval/l1"] < 1 and "eval/driving/d0.mp4/psnr" in result


# ---------------------------------------------------------------- Stage II


@pytest.mark.slow
def test_stage2_trains(tmp_path):
  steps = 24
  cfg = tiny_config(2, "micro", total_steps=steps, **{"checkpoint.every": 100})
  state = loop.train_and_evaluate(cfg, str(tmp_path))
  assert int(state.step) == steps
  m = read_metrics(str(tmp_path))
  delta = [m[s]["loss/stitching_delta"] + m[s]["loss/eye_delta"] + m[s]["loss/lip_delta"]
           for s in range(1, steps + 1)]
  condition = [m[s]["loss/eye_condition"] + m[s]["loss/lip_condition"]
               for s in range(1, steps + 1)]
  # The MLPs start as the identity (zero offsets) and move off it to meet the requested
  # openness. The targets are random, so the condition error is noisy step to step; its mean
  # over the last third is below the first third.
  assert delta[0] == 0 and min(delta[1:]) > 0, delta
  assert np.mean(condition[-8:]) < np.mean(condition[:8]), condition
  assert set(state.params) == {"stitching", "eye", "lip"}


# ---------------------------------------------------------------- two processes


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_together(tmp_path, compilation_cache):
  """jax.distributed on localhost: 2 processes x 1 CPU device, one global batch of 2."""
  env = subprocess_env(compilation_cache)
  addr = f"localhost:{_free_port()}"
  flags = {"total_steps": 2, "batch_size": 2,
           "distributed.coordinator_address": addr, "distributed.num_processes": 2}
  workdir = str(tmp_path / "run")
  procs = [subprocess.Popen(train_cmd(workdir, num_devices=0, **flags,
                                      **{"distributed.process_id": i}),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=900) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert "process 1 / 2" in outs[1][1] and "mesh {'data': 2, 'fsdp': 1}" in outs[0][1]
  m = read_metrics(workdir)  # written by process 0 only
  assert sorted(m) == [1, 2] and np.isfinite(m[2]["loss/total"])
  assert os.path.exists(os.path.join(workdir, "checkpoints", "2", "data",
                                     "process_1-of-2.json"))


# ---------------------------------------------------------------- official weights


@pytest.mark.slow
@pytest.mark.table
def test_stage1_initialises_from_converted_official(converted_golden_weights):
  """A converted official (synthetic) checkpoint becomes Stage I's generator weights."""
  # conftest: write_official (the golden recipe's synthetic official .pth files), then
  # run_converter (python -m convert_weights) into an Orbax directory.
  _, converted = converted_golden_weights
  cfg = stage1.get_config()
  cfg.aux_init = "none"
  cfg.init_from = converted
  # Full-size networks, two discriminator-sized Adam states: on 2 devices, not 8, because the
  # 8 fake devices share host memory and data-axis replicas would each hold a full copy.
  cfg.mesh = [("data", 1), ("fsdp", 2)]
  mesh = mesh_lib.create_mesh(cfg, jax.devices()[:2])
  run = run_lib.build(cfg, mesh, jax.random.key(0))
  state = run.apply_init_from(run.state)
  want, _ = weights.load_variables(converted)
  got = run.networks(state)
  for name in stages.GENERATOR_NETWORKS:
    jax.tree.map(np.testing.assert_array_equal, got[name], want[name])
  big = state.generator.params["warping_module"]["dense_motion_network"]["mask"]["kernel"]
  assert "fsdp" in str(big.sharding.spec)  # placed by the rules, not replicated
  assert int(state.step) == 0
