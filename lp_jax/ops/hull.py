# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Volume of the 3-D convex hull of a small point set (the official code uses scipy's Qhull).

LivePortrait only ever needs the hull of 21 keypoints, so an exact O(n^4) facet search in
float64 is both simple and fast (~1 ms). Coplanar facets are merged into one polygon per plane,
so degenerate inputs (several points on one face) are not double counted.
"""

import itertools

import numpy as np


def _polygon_area_2d(points: np.ndarray) -> float:
  """Area of the convex hull of 2-D points (Andrew's monotone chain + shoelace)."""
  pts = sorted(set(map(tuple, np.round(points, 15))))
  if len(pts) < 3:
    return 0.0
  cross = lambda o, a, b: (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
  lower, upper = [], []
  for p in pts:
    while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
      lower.pop()
    lower.append(p)
  for p in reversed(pts):
    while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
      upper.pop()
    upper.append(p)
  hull = np.array(lower[:-1] + upper[:-1])
  x, y = hull[:, 0], hull[:, 1]
  return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def convex_hull_volume(points: np.ndarray) -> float:
  """Volume of the convex hull of [N, 3] points (0 for degenerate, flat sets)."""
  pts = np.asarray(points, np.float64).reshape(-1, 3)
  scale = np.abs(pts - pts.mean(0)).max()
  if pts.shape[0] < 4 or scale == 0:
    return 0.0
  tol = 1e-12 * scale
  centroid = pts.mean(0)
  planes = {}
  for i, j, k in itertools.combinations(range(len(pts)), 3):
    normal = np.cross(pts[j] - pts[i], pts[k] - pts[i])
    norm = np.linalg.norm(normal)
    if norm <= tol * scale:
      continue
    normal /= norm
    side = (pts - pts[i]) @ normal
    if side.max() > tol and side.min() < -tol:
      continue  # points on both sides: not a hull facet
    if side.max() > tol:  # orient the normal outwards
      normal, side = -normal, -side
    offset = float(normal @ pts[i])
    key = tuple(np.round(np.append(normal, offset / scale), 9))
    planes.setdefault(key, (normal, offset, np.abs(side) <= tol))
  volume = 0.0
  for normal, offset, on_plane in planes.values():
    face = pts[on_plane]
    # 2-D coordinates in the plane, then the pyramid from the centroid to the face.
    u = np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    area = _polygon_area_2d(np.stack([face @ u, face @ v], axis=1))
    volume += area * (offset - normal @ centroid) / 3.0
  return float(volume)
