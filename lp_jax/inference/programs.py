# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""`cached_jit`: jax.jit whose traced programs are kept on disk, so a later run skips tracing.

JAX's persistent compilation cache (runtime.enable_compilation_cache) spares a second run XLA's
compile, but not the Python tracing and lowering that come first and produce its key. With a
warm compilation cache that was the largest part of the time to the first frame: on a 2-core
CPU the demo model's W+G step traced for 2-3 s and M for about 1 s, in every run.

`cached_jit(fn, ...)` behaves as `jax.jit(fn, ...)`, except that the first trace of each program
is exported (jax.export: serialized StableHLO) into the user cache (lp_jax.user_cache), and a
later process calls the exported program instead of tracing `fn` again; XLA then compiles it,
or reads it from the compilation cache. Every run, the first included, calls the exported
program, so all runs compile the same StableHLO and give the same bits.

An entry is keyed by everything a trace depends on: the function (with what its closure holds),
its static arguments, the shape, dtype, weak type and sharding of every other argument, the jit
options, the lp_jax sources (the module-level code and constants a function reads), the JAX,
jaxlib and Flax versions, the JAX options that change programs, XLA_FLAGS and the devices. A
program that jax.export refuses (a custom call without a stability guarantee, a host callback)
runs as plain jax.jit, as does a call inside another trace.
"""

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import sys

import jax
from jax import export as jax_export

from lp_jax import user_cache

CACHE_KIND = "exported-programs"
# JAX options that change what a trace produces.
_JAX_OPTIONS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_dtype_promotion",
                "jax_numpy_rank_promotion", "jax_default_prng_impl",
                "jax_threefry_partitionable", "jax_use_shardy_partitioner", "jax_enable_checks")


@functools.cache
def _environment() -> str:
  """What every entry's key shares: the code and the software and hardware it was traced on."""
  versions = {}
  for package in ("jax", "jaxlib", "flax"):
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      versions[package] = None
  return json.dumps({
      "lp_jax": user_cache.source_digest(), "versions": versions, "python": sys.version,
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "devices": [(d.platform, d.device_kind) for d in jax.devices()]}, sort_keys=True)


def _options() -> tuple:
  """The values of _JAX_OPTIONS now (context managers such as jax.enable_x64 included)."""
  return tuple(str(getattr(jax.config, name, None)) for name in _JAX_OPTIONS)


def _code_digest(code) -> str:
  """A digest of a code object's bytecode, names and constants (nested code by its digest)."""
  consts = [_code_digest(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
  text = repr((consts, code.co_names)).encode()
  return hashlib.sha256(code.co_code + text).hexdigest()[:16]


def describe(obj, depth: int = 0) -> str:
  """`obj` (a function, a partial, a static argument) as text that is the same in every process
  for the same code and values: functions by qualified name and closure, others by repr."""
  if depth > 8:
    return "..."
  d = functools.partial(describe, depth=depth + 1)
  if isinstance(obj, functools.partial):
    return (f"partial({d(obj.func)}, [{', '.join(d(a) for a in obj.args)}], "
            f"{{{', '.join(f'{k}: {d(v)}' for k, v in sorted(obj.keywords.items()))}}})")
  if inspect.isfunction(obj):
    cells = []
    for cell in obj.__closure__ or ():
      try:
        cells.append(d(cell.cell_contents))
      except ValueError:  # an empty cell
        cells.append("<empty>")
    defaults = [d(v) for v in obj.__defaults__ or ()]
    # The code itself too: two lambdas of a module share their qualified name.
    return (f"{obj.__module__}.{obj.__qualname__}:{obj.__code__.co_firstlineno}:"
            f"{_code_digest(obj.__code__)}(cells=[{', '.join(cells)}], defaults={defaults})")
  return f"{type(obj).__module__}.{type(obj).__qualname__}:{obj!r}"


def _leaf_signature(x) -> tuple:
  aval = jax.typeof(x)
  sharding = getattr(x, "sharding", None)
  # A mesh sharding is part of the program; a single device's is not.
  return (aval.shape, aval.dtype, aval.weak_type,
          sharding if isinstance(sharding, jax.sharding.NamedSharding) else None)


class CachedJit:
  """jax.jit(fn, static_argnums=..., **jit_options) with traces kept on disk (see the module
  docstring); called like the function."""

  def __init__(self, fn, static_argnums=(), **jit_options):
    self.fn = fn
    self.static_argnums = tuple(sorted((static_argnums,) if isinstance(static_argnums, int)
                                       else static_argnums))
    self.jit_options = jit_options
    # (static arguments, tree, leaf signatures, JAX options) -> callable of the other arguments
    self._programs = {}
    self._jits = {}  # static arguments -> jax.jit of the rest

  def _split(self, args) -> tuple[tuple, list]:
    statics = tuple(args[i] for i in self.static_argnums)
    return statics, [a for i, a in enumerate(args) if i not in self.static_argnums]

  def trace(self, *args):
    """jax.jit(fn).trace(*args): the program traced as plain jit (ahead-of-time compiles for
    other targets, cost analyses), the user cache left aside."""
    statics, dynamic = self._split(args)
    return self._jit(statics).trace(*dynamic)

  def lower(self, *args):
    """jax.jit(fn).lower(*args), as `trace`."""
    statics, dynamic = self._split(args)
    return self._jit(statics).lower(*dynamic)

  def __call__(self, *args):
    statics, dynamic = self._split(args)
    leaves, tree = jax.tree.flatten(dynamic)
    signature = (statics, tree, tuple(_leaf_signature(x) for x in leaves), _options())
    program = self._programs.get(signature)
    if program is None:
      if any(isinstance(x, jax.core.Tracer) for x in leaves):  # inside another trace
        return self._jit(statics)(*dynamic)
      program = self._programs[signature] = self._program(statics, dynamic, signature)
    return program(*dynamic)

  def _jit(self, statics):
    """jax.jit of `fn` with `statics` bound: a function of the other arguments."""
    if statics not in self._jits:

      def bound(*dynamic):
        args = list(dynamic)
        for i, value in zip(self.static_argnums, statics):
          args.insert(i, value)
        return self.fn(*args)

      # The name only: `fn`'s signature, which still has the static arguments, is not bound's.
      bound.__name__, bound.__qualname__ = self.fn.__name__, self.fn.__qualname__
      bound.__module__ = self.fn.__module__
      self._jits[statics] = jax.jit(bound, **self.jit_options)
    return self._jits[statics]

  def _key(self, signature) -> str | None:
    """The entry's name; None when a part has no stable description (an object known only by
    its address), which is then traced in every run rather than filling the cache."""
    statics, tree, leaves, options = signature
    text = json.dumps({
        "function": describe(self.fn), "static": [describe(s) for s in statics],
        "tree": str(tree), "leaves": [repr(leaf) for leaf in leaves],
        "options": dict(zip(_JAX_OPTIONS, options)),
        "jit": describe(sorted(self.jit_options.items())), "environment": _environment()})
    if " at 0x" in text:
      return None
    return hashlib.sha256(text.encode()).hexdigest()[:40]

  def _program(self, statics, dynamic, signature):
    key = self._key(signature)
    if key is None:
      return self._jit(statics)
    data = user_cache.read(CACHE_KIND, key)
    if data is not None:
      try:
        return self._call(jax_export.deserialize(data))
      except Exception:  # pylint: disable=broad-except
        pass  # an unreadable entry is a miss: traced again and replaced
    jitted = self._jit(statics)
    try:
      exported = jax_export.export(jitted)(*dynamic)
      user_cache.write(CACHE_KIND, key, exported.serialize())
    except Exception:  # pylint: disable=broad-except
      # Not exportable: plain jit (which raises again if the function itself is wrong).
      return jitted
    return self._call(exported)

  def _call(self, exported):
    """The exported program, jitted with `fn`'s name (compile logs) and jit options."""

    def program(*dynamic):
      return exported.call(*dynamic)

    program.__name__ = program.__qualname__ = self.fn.__name__
    return jax.jit(program, **self.jit_options)


def cached_jit(fn=None, *, static_argnums=(), **jit_options):
  """`CachedJit(fn, ...)`, also as a decorator: @cached_jit(static_argnums=0)."""
  if fn is None:
    return functools.partial(cached_jit, static_argnums=static_argnums, **jit_options)
  return CachedJit(fn, static_argnums, **jit_options)
