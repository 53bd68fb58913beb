# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Tests of the auxiliary training networks (VGG-19, HopeNet, ArcFace, discriminator) and their
converter (`python -m convert_weights --aux KIND`).

Parity is against PyTorch modules written here with the upstream key names (torchvision is not
a dependency), at the tiny widths of `configs/auxiliary.py`, with random weights and random
BatchNorm statistics: each torch state dict goes through the converter, then both nets run on
the same images.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lp_jax_configs import auxiliary as aux_configs
from conftest import run_converter
from lp_jax.models import auxiliary
from lp_jax.models.auxiliary import arcface, discriminator, hopenet, vgg19
from lp_jax.weights import auxiliary as aux_weights
from lp_jax.weights import errors, torch_pth

torch = pytest.importorskip("torch")
tnn = torch.nn
F = torch.nn.functional

pytestmark = pytest.mark.torch

TINY = aux_configs.get_config("tiny")
MEAN = torch.tensor(vgg19.IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(vgg19.IMAGENET_STD).view(1, 3, 1, 1)


# --- PyTorch references (upstream layouts, written from the published architectures) --------------


class TorchVgg19(tnn.Module):
  """torchvision `vgg19().features` (all 37 layers) + a small classifier; face-vid2vid slices."""

  def __init__(self, widths):
    super().__init__()
    layers, cin = [], 3
    for n, width in zip(vgg19.CONVS_PER_STAGE, widths):
      for _ in range(n):
        layers += [tnn.Conv2d(cin, width, 3, padding=1), tnn.ReLU()]
        cin = width
      layers.append(tnn.MaxPool2d(2, 2))
    self.features = tnn.Sequential(*layers)
    self.classifier = tnn.Sequential(tnn.Linear(cin, 8), tnn.ReLU(), tnn.Linear(8, 5))

  def forward(self, x):
    x = (x - MEAN) / STD
    outs = []
    for lo, hi in ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30)):
      x = self.features[lo:hi](x)
      outs.append(x)
    return outs


class TorchBottleneck(tnn.Module):
  expansion = 4

  def __init__(self, inplanes, planes, stride=1, downsample=None):
    super().__init__()
    self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
    self.bn1 = tnn.BatchNorm2d(planes)
    self.conv2 = tnn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
    self.bn2 = tnn.BatchNorm2d(planes)
    self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
    self.bn3 = tnn.BatchNorm2d(planes * 4)
    self.relu = tnn.ReLU()
    self.downsample = downsample

  def forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu(out + identity)


class TorchHopenet(tnn.Module):
  """deep-head-pose `Hopenet(Bottleneck, layers, 66)`, with its vestigial fc_finetune."""

  def __init__(self, layers, width, num_bins=66, antialias=False):
    super().__init__()
    self.antialias = antialias
    self.inplanes = width
    self.conv1 = tnn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
    self.bn1 = tnn.BatchNorm2d(width)
    self.relu = tnn.ReLU()
    self.maxpool = tnn.MaxPool2d(3, 2, 1)
    for i, blocks in enumerate(layers):
      setattr(self, f"layer{i + 1}", self._make_layer(width * 2 ** i, blocks, 1 if i == 0 else 2))
    feats = width * 8 * 4
    self.fc_yaw = tnn.Linear(feats, num_bins)
    self.fc_pitch = tnn.Linear(feats, num_bins)
    self.fc_roll = tnn.Linear(feats, num_bins)
    self.fc_finetune = tnn.Linear(feats + 3, 3)

  def _make_layer(self, planes, blocks, stride):
    downsample = None
    if stride != 1 or self.inplanes != planes * 4:
      downsample = tnn.Sequential(tnn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                  tnn.BatchNorm2d(planes * 4))
    layers = [TorchBottleneck(self.inplanes, planes, stride, downsample)]
    self.inplanes = planes * 4
    layers += [TorchBottleneck(self.inplanes, planes) for _ in range(1, blocks)]
    return tnn.Sequential(*layers)

  def forward(self, x):
    if x.shape[-1] != 224:
      x = F.interpolate(x, (224, 224), mode="bilinear", align_corners=False,
                        antialias=self.antialias)
    x = (x - MEAN) / STD
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
    x = F.avg_pool2d(x, 7).flatten(1)
    return self.fc_yaw(x), self.fc_pitch(x), self.fc_roll(x)


class TorchIBasicBlock(tnn.Module):

  def __init__(self, inplanes, planes, stride=1, downsample=None):
    super().__init__()
    self.bn1 = tnn.BatchNorm2d(inplanes, eps=1e-05)
    self.conv1 = tnn.Conv2d(inplanes, planes, 3, padding=1, bias=False)
    self.bn2 = tnn.BatchNorm2d(planes, eps=1e-05)
    self.prelu = tnn.PReLU(planes)
    self.conv2 = tnn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
    self.bn3 = tnn.BatchNorm2d(planes, eps=1e-05)
    self.downsample = downsample

  def forward(self, x):
    out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
    return out + (x if self.downsample is None else self.downsample(x))


class TorchIResNet(tnn.Module):
  """insightface arcface_torch `IResNet(IBasicBlock, layers)` (inference: dropout is identity)."""

  def __init__(self, layers, width, num_features=512):
    super().__init__()
    self.inplanes = width
    self.conv1 = tnn.Conv2d(3, width, 3, padding=1, bias=False)
    self.bn1 = tnn.BatchNorm2d(width, eps=1e-05)
    self.prelu = tnn.PReLU(width)
    for i, blocks in enumerate(layers):
      setattr(self, f"layer{i + 1}", self._make_layer(width * 2 ** i, blocks))
    self.bn2 = tnn.BatchNorm2d(width * 8, eps=1e-05)
    self.fc = tnn.Linear(width * 8 * 49, num_features)
    self.features = tnn.BatchNorm1d(num_features, eps=1e-05)

  def _make_layer(self, planes, blocks):
    downsample = tnn.Sequential(tnn.Conv2d(self.inplanes, planes, 1, 2, bias=False),
                                tnn.BatchNorm2d(planes, eps=1e-05))
    layers = [TorchIBasicBlock(self.inplanes, planes, 2, downsample)]
    self.inplanes = planes
    layers += [TorchIBasicBlock(planes, planes) for _ in range(1, blocks)]
    return tnn.Sequential(*layers)

  def forward(self, x):
    if x.shape[-1] != 112:
      x = F.interpolate(x, (112, 112), mode="bilinear", align_corners=False)
    x = (x - 0.5) / 0.5
    x = self.prelu(self.bn1(self.conv1(x)))
    x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
    x = self.bn2(x).flatten(1)
    return self.features(self.fc(x))


def _randomize(model, seed):
  """Random BatchNorm affine/statistics and PReLU slopes, so conversion mistakes show."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
        n = m.num_features
        m.weight.copy_(torch.rand(n, generator=g) + 0.5)
        m.bias.copy_(torch.randn(n, generator=g) * 0.1)
        m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
        m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
        m.num_batches_tracked.fill_(7)
      elif isinstance(m, tnn.PReLU):
        m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)
  return model.eval()


def _images(shape, seed=0):
  return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def _torch_out(model, x_nhwc):
  with torch.no_grad():
    return model(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous())


def _close(jax_out, torch_out, nchw=True):
  ref = torch_out.numpy()
  if nchw and ref.ndim == 4:
    ref = ref.transpose(0, 2, 3, 1)
  got = np.asarray(jax_out)
  assert got.shape == ref.shape
  scale = max(1.0, float(np.abs(ref).max()))
  np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale)


def _save(model, path, legacy=False, prefix=""):
  sd = {prefix + k: v for k, v in model.state_dict().items()}
  torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
  return str(path)


# --- parity ---------------------------------------------------------------------------------------


def test_vgg19_parity_and_dropped_keys(tmp_path):
  ref = _randomize(TorchVgg19(TINY.vgg19.widths), 0)
  src = _save(ref, tmp_path / "vgg19.pth")
  variables, manifest = aux_weights.convert_aux("vgg19", src, TINY)
  # The classifier and the convolutions after relu5_1 are not in the pyramid.
  assert sorted(manifest["dropped_keys"]) == sorted(
      ["classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"] +
      [f"features.{i}.{leaf}" for i in (30, 32, 34) for leaf in ("weight", "bias")])
  x = _images((2, 32, 32, 3))
  outs = auxiliary.build("vgg19", TINY).apply(variables, x)
  refs = _torch_out(ref, x)
  assert len(outs) == 5
  for got, want in zip(outs, refs):
    _close(got, want)


@pytest.mark.parametrize("antialias", [False, True])
def test_hopenet_parity_legacy_pkl(tmp_path, antialias):
  # The public hopenet_robust_alpha1.pkl is a legacy (pre-zip) torch.save stream.
  ref = _randomize(TorchHopenet(TINY.hopenet.layers, TINY.hopenet.width, antialias=antialias), 1)
  src = _save(ref, tmp_path / "hopenet.pkl", legacy=True)
  with open(src, "rb") as f:
    assert f.read(4) == torch_pth.LEGACY_MAGIC
  variables, manifest = aux_weights.convert_aux("hopenet", src, TINY)
  assert manifest["dropped_keys"][-2:] == ["fc_finetune.weight", "fc_finetune.bias"]
  model = auxiliary.build("hopenet", TINY).clone(antialias=antialias)
  for side in (224, 160, 256):  # 224: no resize; 160 up; 256 down (antialias matters)
    x = _images((2, side, side, 3), side)
    outs = model.apply(variables, x)
    for got, want in zip(outs, _torch_out(ref, x)):
      _close(got, want)
  deg = hopenet.logits_to_degrees(outs[0])
  assert deg.shape == (2,)


def test_arcface_parity_via_cli_and_load_variables(tmp_path):
  ref = _randomize(TorchIResNet(TINY.arcface.layers, TINY.arcface.width), 2)
  src = _save(ref, tmp_path / "backbone.pth", prefix="module.")  # a DDP-saved file
  dst = tmp_path / "arcface"
  proc = run_converter("--aux", "arcface", "--aux_config", "tiny", "--src", src, "--dst",
                       str(dst), block_torch=True)
  assert proc.returncode == 0, proc.stderr
  variables = aux_weights.load_variables("arcface", str(dst), TINY)
  assert variables["params"]["layer1.0"]["prelu"]["negative_slope"].shape == (4,)
  x = _images((2, 112, 112, 3), 3)
  model = auxiliary.build("arcface", TINY)
  emb = model.apply(variables, x)
  assert emb.shape == (2, 512)
  _close(emb, _torch_out(ref, x))
  # The raw file loads the same (converted in memory); 128 -> 112 resize without antialias
  # equals F.interpolate's bilinear.
  raw = aux_weights.load_variables("arcface", src, TINY)
  x = _images((1, 128, 128, 3), 4)
  _close(model.clone(antialias=False).apply(raw, x), _torch_out(ref, x))
  sim = arcface.cosine_similarity(emb, emb)
  np.testing.assert_allclose(sim, 1.0, rtol=1e-6)


# --- refusals -------------------------------------------------------------------------------------


def _error_lines(proc):
  assert proc.returncode == 1
  return [line for line in proc.stderr.splitlines() if line.strip()]


def test_converter_refuses_bad_files_one_line_each(tmp_path):
  ref = _randomize(TorchHopenet(TINY.hopenet.layers, TINY.hopenet.width), 5)
  sd = ref.state_dict()
  sd["conv1.weight"] = torch.zeros(5, 3, 7, 7)  # wrong shape
  del sd["bn1.running_var"]  # missing
  sd["extra.weight"] = torch.zeros(3)  # unexpected
  src = tmp_path / "bad.pkl"
  torch.save(sd, src)
  dst = tmp_path / "out"
  lines = _error_lines(run_converter("--aux", "hopenet", "--aux_config", "tiny", "--src",
                                     str(src), "--dst", str(dst)))
  assert not dst.exists()
  assert any("conv1.weight: expected shape (4, 3, 7, 7), got (5, 3, 7, 7)" in l for l in lines)
  assert any("missing key bn1.running_var (expected shape (4,))" in l for l in lines)
  assert any("unexpected key extra.weight (3,)" in l for l in lines)
  assert lines[-1] == "error: 3 problems; nothing was written"
  assert all(str(src) in l for l in lines[:-1])

  # Full-size config against a tiny file: every mismatch is reported, nothing crashes.
  with pytest.raises(errors.ConversionError) as e:
    aux_weights.convert_aux("hopenet", _save(ref, tmp_path / "ok.pkl"),
                            aux_configs.get_config())
  assert "\n" not in str(e.value) and len(e.value.problems) > 10
  assert "blocks per stage (1, 1, 1, 1), the config (3, 4, 6, 3)" in e.value.problems[0]

  garbage = tmp_path / "garbage.pth"
  garbage.write_bytes(b"not a checkpoint at all")
  lines = _error_lines(run_converter("--aux", "vgg19", "--src", str(garbage), "--dst", str(dst)))
  assert len(lines) == 1 and str(garbage) in lines[0]

  # load_variables: one-line errors for a missing path, the wrong kind and the wrong config.
  with pytest.raises(FileNotFoundError, match="no such hopenet weights"):
    aux_weights.load_variables("hopenet", str(tmp_path / "nope"), TINY)
  good = tmp_path / "good"
  assert run_converter("--aux", "hopenet", "--aux_config", "tiny", "--src",
                       str(tmp_path / "ok.pkl"), "--dst", str(good)).returncode == 0
  with pytest.raises(ValueError, match="not 'arcface'") as e:
    aux_weights.load_variables("arcface", str(good), TINY)
  assert "\n" not in str(e.value)
  tiny_deeper = aux_configs.get_config("tiny")
  tiny_deeper.hopenet.width = 8
  with pytest.raises(ValueError, match=str(good)) as e:
    aux_weights.load_variables("hopenet", str(good), tiny_deeper)
  assert "\n" not in str(e.value)


# --- discriminator and small pieces ---------------------------------------------------------------


def test_discriminator_shapes_and_spectral_state():
  model = auxiliary.build("discriminator", TINY)
  # An "rbg" key: XLA:CPU compiles its initialisers ~3x faster than threefry's (same shapes).
  variables = auxiliary.init_variables("discriminator", TINY, jax.random.key(0, impl="rbg"))
  assert set(variables) == {"params", "spectral"}
  assert set(variables["params"]) == {"discs.1", "discs.0-5"}
  x = jnp.asarray(_images((2, 64, 64, 3)))
  # Jitted: one compile each is cheaper on XLA:CPU than op-by-op dispatch of the whole net.
  apply = jax.jit(model.apply, static_argnames=("train", "mutable"))
  outs, state = apply(variables, x, train=True, mutable=("spectral",))
  assert len(outs) == 2
  (f1, l1), (f2, l2) = outs
  # 64: conv4 61 pool 30, conv4 27 pool 13, conv4 10; at scale 0.5: 32 -> 29/14 -> 11/5 -> 2.
  assert [f.shape for f in f1] == [(2, 30, 30, 8), (2, 13, 13, 16), (2, 10, 10, 16)]
  assert l1.shape == (2, 10, 10, 1) and l2.shape == (2, 2, 2, 1)
  assert [f.shape[1] for f in f2] == [14, 5, 2]
  u0 = variables["spectral"]["discs.1"]["down_blocks.0"]["conv"]["u"]
  u1 = state["spectral"]["discs.1"]["down_blocks.0"]["conv"]["u"]
  assert not np.allclose(u0, u1)  # one power iteration per training call
  # Eval mode leaves the state alone.
  _, same = apply(variables, x, train=False, mutable=("spectral",))
  np.testing.assert_array_equal(same["spectral"]["discs.1"]["conv"]["v"],
                                variables["spectral"]["discs.1"]["conv"]["v"])
  grads = jax.jit(jax.grad(lambda p: sum(jnp.mean(l) for _, l in model.apply(
      {"params": p, "spectral": variables["spectral"]}, x))))(variables["params"])
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert float(jnp.abs(grads["discs.0-5"]["down_blocks.0"]["conv"]["kernel"]).sum()) > 0
  plain = jax.eval_shape(model.clone(sn=False).init, jax.random.key(1), x)
  assert set(plain) == {"params"}
  with pytest.raises(ValueError, match="too small"):
    model.apply(variables, x[:, :40, :40])


def test_anti_alias_downsample_matches_fomm():
  x = _images((1, 20, 22, 3), 7)
  for scale in (0.5, 0.25):
    kernel, ka, kb = discriminator.gaussian_kernel(scale)
    weight = torch.from_numpy(kernel)[None, None].repeat(3, 1, 1, 1)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    t = F.conv2d(F.pad(t, (ka, kb, ka, kb)), weight, groups=3)
    t = F.interpolate(t, scale_factor=(scale, scale))
    _close(discriminator.anti_alias_downsample(jnp.asarray(x), scale), t)


def test_logits_to_degrees_and_configs():
  logits = jnp.full((1, 66), -1e9).at[0, 33].set(0.0)
  np.testing.assert_allclose(hopenet.logits_to_degrees(logits), [0.0], atol=1e-5)
  np.testing.assert_allclose(hopenet.logits_to_degrees(jnp.zeros((66,))), -1.5, atol=1e-5)
  cfg = aux_configs.get_config("arcface=r50")
  assert tuple(cfg.arcface.layers) == aux_configs.IRESNET_LAYERS["r50"]
  assert dict(cfg.paths) == {"vgg19": None, "hopenet": None, "arcface": None}
  with pytest.raises(ValueError, match="unknown"):
    aux_configs.get_config("huge")
  # Full-size variable counts of the upstream networks ("params" only).
  full = aux_configs.get_config("arcface=r50")
  counts = {k: sum(np.prod(v.shape) for v in jax.tree.leaves(
      auxiliary.abstract_variables(k, full)["params"])) for k in auxiliary.PRETRAINED_KINDS}
  # VGG-19 features up to conv5_1; ResNet-50 trunk + 3 x 66 bins; iresnet50.
  assert counts["vgg19"] == 12_944_960
  assert counts["hopenet"] == 23_508_032 + 3 * (2048 * 66 + 66)
  assert counts["arcface"] > 40_000_000


def test_bfloat16_compute_smoke():
  model = auxiliary.build("vgg19", TINY, dtype=jnp.bfloat16)
  # Random float32 variables from the abstract tree: jit-compiling init costs more than the test.
  rng = np.random.default_rng(0)
  variables = jax.tree.map(lambda a: rng.normal(0, 0.1, a.shape).astype(np.float32),
                           auxiliary.abstract_variables("vgg19", TINY))
  outs = model.apply(variables, _images((1, 32, 32, 3)))
  assert all(o.dtype == jnp.bfloat16 for o in outs)
