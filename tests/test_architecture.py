# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The layering rules of docs/architecture.md, checked on the import graph.

The graph is read from the source with `ast` (nothing is imported): an edge for every import
statement, at module top or inside a function, to the module it names.
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# folder -> the package name it is installed under (configs/ installs as lp_jax_configs, a name
# that cannot clash with another project's `configs`).
PACKAGES = {"lp_jax": "lp_jax", "configs": "lp_jax_configs", "convert_weights": "convert_weights"}
MAX_LINES = 400


def _modules() -> dict[str, str]:
  """{dotted module name: file path} of every .py file of the project's packages."""
  out = {}
  for folder, pkg in PACKAGES.items():
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
      for f in files:
        if f.endswith(".py"):
          rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
          rel[0] = pkg
          if rel[-1] == "__init__":
            rel = rel[:-1]
          out[".".join(rel)] = os.path.join(dirpath, f)
  return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
  """The project module an import of `name` executes (its longest known prefix)."""
  parts = name.split(".")
  for i in range(len(parts), 0, -1):
    if ".".join(parts[:i]) in MODULES:
      return ".".join(parts[:i])
  return None


def _imports(module: str) -> list[tuple[str, int, bool]]:
  """(imported project module, line, inside a function or class?) of `module`'s imports."""
  path = MODULES[module]
  tree = ast.parse(open(path).read(), path)
  package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
  found = []

  def visit(node, nested):
    for child in ast.iter_child_nodes(node):
      inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
      names = []
      if isinstance(child, ast.Import):
        names = [a.name for a in child.names]
      elif isinstance(child, ast.ImportFrom):
        base = child.module or ""
        if child.level:
          up = package.split(".")[:len(package.split(".")) - child.level + 1]
          base = ".".join(up + ([base] if base else []))
        # `from pkg import mod` imports the submodule pkg.mod when there is one.
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                 for a in child.names]
      for n in names:
        target = _resolve(n)
        if target and target != module:
          found.append((target, child.lineno, nested))
      visit(child, inner)

  visit(tree, False)
  return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def strong(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w, _, _ in GRAPH[v]:
      if w not in index:
        strong(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  for v in GRAPH:
    if v not in index:
      strong(v)
  return out


def test_graph_covers_the_project():
  assert "lp_jax.inference.pipeline" in MODULES and "lp_jax_configs.models" in MODULES
  assert any(t == "lp_jax.inference.networks" for t, _, _ in GRAPH["lp_jax.inference.pipeline"])


def test_no_import_circles():
  assert _cycles() == []


@pytest.mark.parametrize("lower,upper", [
    ("lp_jax", "convert_weights"),  # the converter is a command on top of the library
    ("lp_jax", "lp_jax_configs"),  # the library owns its constants; configs import them
    ("lp_jax_configs", "convert_weights"),
    ("lp_jax.ops", "lp_jax.models"),
    ("lp_jax.ops", "lp_jax.inference"), ("lp_jax.ops", "lp_jax.training"),
    ("lp_jax.models", "lp_jax.inference"), ("lp_jax.models", "lp_jax.training"),
    ("lp_jax.preprocess", "lp_jax.inference"), ("lp_jax.preprocess", "lp_jax.training"),
    ("lp_jax.io", "lp_jax.inference"), ("lp_jax.io", "lp_jax.training"),
    ("lp_jax.weights", "lp_jax.inference"), ("lp_jax.weights", "lp_jax.training"),
    ("lp_jax.inference", "lp_jax.training"), ("lp_jax.training", "lp_jax.inference"),
    ("lp_jax.inference", "lp_jax.app"), ("lp_jax.training", "lp_jax.app"),
])
def test_layers_point_one_way(lower, upper):
  inside = lambda m, p: m == p or m.startswith(p + ".")
  bad = [f"{m}:{line} imports {t}" for m in GRAPH if inside(m, lower)
         for t, line, _ in GRAPH[m] if inside(t, upper)]
  assert bad == []


def _reason(line: str) -> str:
  """The comment of a line without lint directives (which silence a warning, not explain)."""
  comment = line.partition("#")[2]
  return re.sub(r"pylint:\s*disable=[\w,-]+", "", comment).strip()


def test_imports_inside_functions_say_why():
  """A deliberate lazy import (start-up time) carries its reason on the line or the one above."""
  bad = []
  for m, edges in GRAPH.items():
    lines = open(MODULES[m]).read().splitlines()
    for _, line, nested in edges:
      above = line - 2  # a comment may head a run of imports
      while lines[above].strip().startswith(("from ", "import ")):
        above -= 1
      if nested and not (_reason(lines[line - 1]) or lines[above].strip().startswith("#")):
        bad.append(f"{MODULES[m]}:{line}")
  assert bad == []


def test_files_are_short():
  long = {os.path.relpath(p, ROOT): n for p in MODULES.values()
          for n in [len(open(p).read().splitlines())] if n > MAX_LINES}
  assert long == {}


def _readme_layout() -> dict[str, str]:
  """{folder: its entry's text} of the Layout block in docs/architecture.md."""
  text = open(os.path.join(ROOT, "docs", "architecture.md")).read()
  block = text.split("## Layout", 1)[1].split("```", 2)[1]
  entries, current = {}, None
  for line in block.splitlines():
    if line and not line[0].isspace():
      current, _, rest = line.partition(" ")
      entries[current] = rest
    elif current:
      entries[current] += " " + line.strip()
  return entries


def test_readme_layout_names_every_module():
  entries = _readme_layout()
  missing = []
  for folder in PACKAGES:
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
      rel = os.path.relpath(dirpath, ROOT) + "/"
      if "__pycache__" in rel or not any(f.endswith(".py") for f in files):
        continue
      if rel not in entries:
        missing.append(rel)
        continue
      words = set(re.findall(r"[\w.]+", entries[rel]))
      missing += [rel + f for f in files if f.endswith(".py") and f != "__init__.py"
                  and f[:-3] not in words]
  assert missing == []
  assert all(os.path.isdir(os.path.join(ROOT, folder)) for folder in entries)
