# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The environment under test is the one constraints.txt records (`make lock` writes it)."""

import importlib.metadata
import os
import re

from conftest import ROOT

CONSTRAINTS = os.path.join(ROOT, "constraints.txt")


def canonical(name: str) -> str:
  """PEP 503 normalised project name (pip freeze and metadata may spell it differently)."""
  return re.sub(r"[-_.]+", "-", name).lower()


def pinned(path: str = CONSTRAINTS) -> dict:
  """{canonical name: version} of a constraints file's `name==version` lines."""
  pins = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.split("#", 1)[0].strip()
      if line:
        name, sep, version = line.partition("==")
        assert sep, f"{path}: {line!r} is not name==version"
        pins[canonical(name)] = version.strip()
  return pins


def installed() -> dict:
  """{canonical name: version} of every distribution in this environment but lp_jax itself."""
  found = {}
  for dist in importlib.metadata.distributions():
    name = dist.metadata["Name"]
    if name and canonical(name) != "lp-jax":
      found[canonical(name)] = dist.version
  return found


def differences(pins: dict, have: dict) -> list[str]:
  """One line per installed package whose version is not the pinned one (or is not pinned)."""
  return sorted(f"{name} {version} (constraints.txt: {pins.get(name, 'not listed')})"
                for name, version in have.items() if pins.get(name) != version)


def test_installed_versions_are_the_pinned_ones():
  diff = differences(pinned(), installed())
  assert not diff, ("installed packages differ from constraints.txt (run `make test`, which "
                    "installs with it, or `make lock` to re-pin):\n  " + "\n  ".join(diff))


def test_a_moved_version_is_named():
  pins = {"numpy": "2.4.6", "opencv-python-headless": "4.10.0.84"}
  assert differences(pins, dict(pins)) == []
  assert differences(pins, {"numpy": "2.4.6", "opencv-python-headless": "5.1.0.95",
                            "extra": "1.0"}) == [
      "extra 1.0 (constraints.txt: not listed)",
      "opencv-python-headless 5.1.0.95 (constraints.txt: 4.10.0.84)"]


def test_reference_environment_pins_hold():
  """The pins parity rests on: OpenCV 4.10 (the official release's warpAffine) and the jax whose
  XLA was tested with lp_jax's CPU options."""
  pins = pinned()
  assert pins["opencv-python-headless"] == "4.10.0.84"
  from lp_jax import xla_flags  # pylint: disable=import-outside-toplevel
  assert pins["jaxlib"] in xla_flags.TESTED_JAXLIB
