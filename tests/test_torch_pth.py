# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Tests for lp_jax.weights.torch_pth against files written by real torch.save."""

import builtins
import collections
import os
import pickle
import zipfile

import ml_dtypes
import numpy as np
import pytest

from lp_jax.weights import torch_pth

torch = pytest.importorskip('torch')


def _assert_same(array, tensor):
  """Asserts bit-exact equality (NaN payloads, -0.0 included) with a torch tensor."""
  tensor = tensor.detach()
  assert isinstance(array, np.ndarray)
  assert array.shape == tuple(tensor.shape)
  assert array.flags.c_contiguous and array.flags.owndata
  assert array.dtype.isnative
  if tensor.dtype == torch.bfloat16:
    assert array.dtype == ml_dtypes.bfloat16
    expected = tensor.contiguous().view(torch.int16).numpy()
    np.testing.assert_array_equal(array.view(np.int16), expected)
  else:
    expected = tensor.contiguous().numpy()
    assert array.dtype == expected.dtype
    assert array.tobytes() == expected.tobytes()


def _save(obj, tmp_path, name='ckpt.pth'):
  path = tmp_path / name
  torch.save(obj, path)
  return path


def _rewrite_zip(src, dst, replace):
  """Copies the zip ``src`` to ``dst``, swapping the records whose suffix is in ``replace``."""
  with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
    for name in zin.namelist():
      suffix = name.split('/', 1)[1]
      if suffix in replace:
        if replace[suffix] is not None:
          zout.writestr(name, replace[suffix])
      else:
        zout.writestr(name, zin.read(name))
  return dst


def _single_line_error(excinfo, path):
  message = str(excinfo.value)
  assert '\n' not in message
  assert str(path) in message
  return message


def test_state_dict_round_trip(tmp_path):
  torch.manual_seed(0)
  model = torch.nn.Sequential(
      torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
      torch.nn.Linear(4, 2))
  model(torch.randn(2, 3, 3, 3))  # Moves the BatchNorm running stats off their defaults.
  state = model.state_dict()
  state['extra_int'] = torch.arange(7, dtype=torch.int64) - 3
  path = _save(state, tmp_path)

  loaded = torch_pth.load_pth(path)

  assert isinstance(loaded, collections.OrderedDict)
  assert list(loaded) == list(state)
  for key, tensor in state.items():
    _assert_same(loaded[key], tensor)
  assert loaded['1.num_batches_tracked'].shape == ()
  assert loaded['1.num_batches_tracked'].dtype == np.int64
  assert int(loaded['1.num_batches_tracked']) == 1


def test_non_contiguous_views(tmp_path):
  base = torch.randn(4, 6)
  shared = torch.arange(20, dtype=torch.float32)
  tensors = {
      'transposed': torch.randn(3, 5).t(),
      'offset_slice': torch.arange(20)[5:13],
      'every_other_column': base[:, ::2],
      'broadcast': torch.randn(3, 1).expand(3, 4),  # Stride 0.
      'shared_a': shared[2:6],
      'shared_b': shared.view(4, 5)[1:, 1:].t(),
      'empty': torch.zeros(0, 3),
  }
  assert not tensors['transposed'].is_contiguous()
  assert tensors['offset_slice'].storage_offset() == 5
  # Saving one tensor by itself (not in a dict) takes the same path.
  _assert_same(torch_pth.load_pth(_save(tensors['transposed'], tmp_path, 't.pth')),
               tensors['transposed'])

  loaded = torch_pth.load_pth(_save(tensors, tmp_path))

  assert isinstance(loaded, dict)
  for key, tensor in tensors.items():
    _assert_same(loaded[key], tensor)
  # Tensors that shared one storage come back as independent copies.
  loaded['shared_a'][...] = -1
  _assert_same(loaded['shared_b'], tensors['shared_b'])


def test_float_dtypes(tmp_path):
  torch.manual_seed(1)
  specials = torch.tensor([0.0, -0.0, float('inf'), float('-inf'), float('nan'), 1e-8, 65504.0])
  tensors = {
      'f16': torch.randn(5, 3).half(),
      'f16_specials': specials.half(),
      'bf16': torch.randn(2, 3, 4).bfloat16(),
      'bf16_view': torch.randn(6, 4).bfloat16()[1::2, 1:],
      'f64': torch.randn(3, dtype=torch.float64),
      'f32_specials': specials,
      'i32': torch.tensor([-(2**31), 2**31 - 1], dtype=torch.int32),
      'i8': torch.tensor([-128, 127], dtype=torch.int8),
      'u8': torch.tensor([0, 255], dtype=torch.uint8),
      'bool': torch.tensor([True, False, True]),
      'c64': torch.randn(3, dtype=torch.complex64),
      'u16': torch.tensor([0, 65535], dtype=torch.uint16),  # Saved via _rebuild_tensor_v3.
  }

  loaded = torch_pth.load_pth(_save(tensors, tmp_path))

  for key, tensor in tensors.items():
    if tensor.dtype == torch.uint16:
      np.testing.assert_array_equal(loaded[key], np.array([0, 65535], np.uint16))
      assert loaded[key].dtype == np.uint16
    else:
      _assert_same(loaded[key], tensor)
  np.testing.assert_array_equal(loaded['bf16'].astype(np.float32),
                                tensors['bf16'].float().numpy())


def test_nested_checkpoint(tmp_path):
  torch.manual_seed(2)
  net = torch.nn.Linear(3, 2)
  module_state = collections.OrderedDict(
      ('module.' + k, v) for k, v in net.state_dict().items())
  checkpoint = {
      'model': module_state,
      'ema': {'module.fc.weight': torch.randn(2, 2)},
      'param': torch.nn.Parameter(torch.randn(3)),
      'epoch': 12,
      'lr': 0.5,
      'name': 'spade',
      'nothing': None,
      'flags': [True, 1, (2, 'x')],
  }

  loaded = torch_pth.load_pth(_save(checkpoint, tmp_path))

  assert list(loaded['model']) == ['module.weight', 'module.bias']
  for key, tensor in module_state.items():
    _assert_same(loaded['model'][key], tensor)
  _assert_same(loaded['ema']['module.fc.weight'], checkpoint['ema']['module.fc.weight'])
  _assert_same(loaded['param'], checkpoint['param'])
  assert loaded['epoch'] == 12 and loaded['lr'] == 0.5 and loaded['name'] == 'spade'
  assert loaded['nothing'] is None
  assert loaded['flags'] == [True, 1, (2, 'x')]


def test_big_endian_byteorder(tmp_path):
  tensors = {'f32': torch.randn(2, 3), 'c64': torch.randn(2, dtype=torch.complex64),
             'bf16': torch.randn(4).bfloat16(), 'i64': torch.tensor(7)}
  src = _save(tensors, tmp_path)
  # Rewrite the little-endian file as the big-endian host torch would have written it.
  replace = {'byteorder': b'big'}
  with zipfile.ZipFile(src) as z:
    for name in z.namelist():
      suffix = name.split('/', 1)[1]
      if suffix.startswith('data/'):
        key = suffix[len('data/'):]
        # Storage keys are assigned in the order of the dict.
        tensor = list(tensors.values())[int(key)]
        array = tensor.view(torch.int16).numpy() if tensor.dtype == torch.bfloat16 else (
            tensor.numpy())
        if array.dtype.kind == 'c':
          array = array.view(np.float32)
        replace[suffix] = array.astype(array.dtype.newbyteorder('>')).tobytes()
  path = _rewrite_zip(src, tmp_path / 'big.pth', replace)

  loaded = torch_pth.load_pth(path)

  for key, tensor in tensors.items():
    _assert_same(loaded[key], tensor)


class _SystemCall:

  def __init__(self, command):
    self.command = command

  def __reduce__(self):
    return (os.system, (self.command,))


class _EvalCall:

  def __init__(self, source):
    self.source = source

  def __reduce__(self):
    return (builtins.eval, (self.source,))


def test_refuses_os_system_without_running_it(tmp_path):
  marker = tmp_path / 'pwned'
  payload = pickle.dumps({'w': _SystemCall(f'touch {marker}')}, protocol=2)
  src = _save({'w': torch.ones(2)}, tmp_path)
  path = _rewrite_zip(src, tmp_path / 'evil.pth', {'data.pkl': payload})

  with pytest.raises(torch_pth.UnsafePickleError) as excinfo:
    torch_pth.load_pth(path)

  message = _single_line_error(excinfo, path)
  assert f"global '{os.system.__module__}.system'" in message
  assert not marker.exists()
  assert isinstance(excinfo.value, torch_pth.CheckpointError)
  assert isinstance(excinfo.value, ValueError)


def test_refuses_builtins_eval(tmp_path):
  marker = tmp_path / 'pwned'
  payload = pickle.dumps(_EvalCall(f"open({str(marker)!r}, 'w')"), protocol=4)
  src = _save({'w': torch.ones(2)}, tmp_path)
  path = _rewrite_zip(src, tmp_path / 'evil.pth', {'data.pkl': payload})

  with pytest.raises(torch_pth.UnsafePickleError) as excinfo:
    torch_pth.load_pth(path)

  assert "'builtins.eval'" in _single_line_error(excinfo, path)
  assert not marker.exists()


class _Plain:
  pass


def test_refuses_arbitrary_class(tmp_path):
  payload = pickle.dumps({'w': _Plain()}, protocol=2)
  src = _save({'w': torch.ones(2)}, tmp_path)
  path = _rewrite_zip(src, tmp_path / 'class.pth', {'data.pkl': payload})

  with pytest.raises(torch_pth.UnsafePickleError) as excinfo:
    torch_pth.load_pth(path)

  assert '_Plain' in _single_line_error(excinfo, path)


def test_truncated_file(tmp_path):
  src = _save({'w': torch.randn(64, 64)}, tmp_path)
  data = src.read_bytes()
  path = tmp_path / 'half.pth'
  path.write_bytes(data[:len(data) // 2])

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'corrupt' in _single_line_error(excinfo, path)


def test_corrupt_storage_bytes(tmp_path):
  src = _save({'w': torch.zeros(256)}, tmp_path)
  data = bytearray(src.read_bytes())
  # Flip a byte inside the run of zeros that is the storage: the zip CRC no longer matches.
  data[data.index(bytes(512)) + 100] ^= 0xFF
  path = tmp_path / 'crc.pth'
  path.write_bytes(bytes(data))

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'CRC' in _single_line_error(excinfo, path)


def test_short_storage_record(tmp_path):
  src = _save({'w': torch.ones(8)}, tmp_path)
  path = _rewrite_zip(src, tmp_path / 'short.pth', {'data/0': bytes(12)})

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'truncated' in _single_line_error(excinfo, path)


def test_missing_data_pkl(tmp_path):
  src = _save({'w': torch.ones(8)}, tmp_path)
  path = _rewrite_zip(src, tmp_path / 'nopkl.pth', {'data.pkl': None})

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'data.pkl' in _single_line_error(excinfo, path)


def test_truncated_pickle(tmp_path):
  src = _save({'w': torch.ones(8)}, tmp_path)
  with zipfile.ZipFile(src) as z:
    pkl = z.read(next(n for n in z.namelist() if n.endswith('/data.pkl')))
  path = _rewrite_zip(src, tmp_path / 'cut.pth', {'data.pkl': pkl[:len(pkl) // 2]})

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'data.pkl' in _single_line_error(excinfo, path)


def test_unknown_storage_type(tmp_path):
  src = _save({'w': torch.ones(8)}, tmp_path)
  with zipfile.ZipFile(src) as z:
    pkl = z.read(next(n for n in z.namelist() if n.endswith('/data.pkl')))
  assert b'torch\nFloatStorage\n' in pkl
  pkl = pkl.replace(b'torch\nFloatStorage\n', b'torch\nQInt8Storage\n')
  path = _rewrite_zip(src, tmp_path / 'q.pth', {'data.pkl': pkl})

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'QInt8Storage' in _single_line_error(excinfo, path)


def test_not_a_zip(tmp_path):
  path = tmp_path / 'notes.pth'
  path.write_text('these are not weights\nsecond line\n')

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  message = _single_line_error(excinfo, path)
  assert 'not a zip' in message and 'legacy' in message


def test_legacy_format(tmp_path):
  path = _save({'w': torch.ones(2)}, tmp_path)
  torch.save({'w': torch.ones(2)}, path, _use_new_zipfile_serialization=False)

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(path)

  assert 'legacy' in _single_line_error(excinfo, path)


def test_missing_path(tmp_path):
  path = tmp_path / 'does_not_exist.pth'

  with pytest.raises(torch_pth.CheckpointError) as excinfo:
    torch_pth.load_pth(str(path))

  assert 'no such file' in _single_line_error(excinfo, path)
