# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""Kalman (RTS) smoothing of per-frame motion, equivalent to the official `src/utils/filter.py`.

Upstream builds a pykalman `KalmanFilter` over the flattened frames with identity transition and
observation matrices, transition covariance q*I, observation covariance r*I, initial mean = first
observation and initial covariance I, and returns `kf.smooth(...)` means as float32. With every
matrix a scaled identity, the covariances stay scaled identities, so the D-dimensional filter is D
independent scalar filters sharing one gain sequence; that is what is computed here (float64, no
pykalman dependency), following pykalman's update order:

  filter   t = 0: no predict; the prior is (x_0, 1).
           t > 0: predict  m- = m_{t-1},  P- = P_{t-1} + q.
           correct K = P- / (P- + r),  m = m- + K (y_t - m-),  P = P- - K P-.
  smoother from the last filtered state backwards:
           G = P_t / P-_{t+1},  ms_t = m_t + G (ms_{t+1} - m-_{t+1}),
           Ps_t = P_t + G (Ps_{t+1} - P-_{t+1}) G.
"""

import numpy as np

PROCESS_VARIANCE = 1e-5
OBSERVATION_VARIANCE = 3e-7  # CLI default `driving_smooth_observation_variance`


def kalman_smooth(x_seq, observation_variance: float = OBSERVATION_VARIANCE,
                  process_variance: float = PROCESS_VARIANCE) -> np.ndarray:
  """RTS-smoothed sequence, float32 with the input's shape.

  Args:
    x_seq: [T, ...] per-frame values (e.g. [T, 21, 3] expressions or [T, 3, 3] rotations); each
      frame is flattened into one observation vector.
    observation_variance: r, the observation noise variance (3e-7 in the CLI, 3e-6 in gradio).
    process_variance: q, the transition noise variance.
  """
  x = np.asarray(x_seq, dtype=np.float64)
  num = x.shape[0]
  obs = x.reshape(num, -1)
  q, r = float(process_variance), float(observation_variance)

  pred_mean = np.empty_like(obs)
  filt_mean = np.empty_like(obs)
  pred_var = np.empty(num)
  filt_var = np.empty(num)
  for t in range(num):
    if t == 0:
      pred_mean[0], pred_var[0] = obs[0], 1.0
    else:
      pred_mean[t], pred_var[t] = filt_mean[t - 1], filt_var[t - 1] + q
    gain = pred_var[t] / (pred_var[t] + r)
    filt_mean[t] = pred_mean[t] + gain * (obs[t] - pred_mean[t])
    filt_var[t] = pred_var[t] - gain * pred_var[t]

  smooth_mean = np.empty_like(obs)
  smooth_mean[-1] = filt_mean[-1]
  smooth_var = filt_var[-1]
  for t in range(num - 2, -1, -1):
    gain = filt_var[t] / pred_var[t + 1]
    smooth_mean[t] = filt_mean[t] + gain * (smooth_mean[t + 1] - pred_mean[t + 1])
    smooth_var = filt_var[t] + gain * (smooth_var - pred_var[t + 1]) * gain
  return smooth_mean.reshape(x.shape).astype(np.float32)
