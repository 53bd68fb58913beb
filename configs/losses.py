# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""The `loss` block of configs/stage1.py and stage2.py: each term's weight and settings.

  from lp_jax_configs import losses
  cfg = losses.get_config(1)   # Stage I: F, M, W, G + discriminators (paper Sec. 3.2)
  cfg = losses.get_config(2)   # Stage II: stitching / eye / lip MLPs (paper Eq. 5-6)

The training objectives (lp_jax.training.objectives) read every value from here; the keys of
`weights` are exactly the terms each stage computes and logs as `loss/<term>`.
"""

import ml_collections

from lp_jax.training.regions import BOX_SCALES


def _regions() -> ml_collections.ConfigDict:
  """Landmark regions shared by both stages (crops in Stage I, masks in Stage II)."""
  c = ml_collections.ConfigDict()
  # Crop sides: the official-width discriminator (4 blocks, scales 1 and 0.5) needs >= 106 px.
  c.face_crop_size = 128  # side of the face crops (perceptual, GAN, identity)
  c.lip_crop_size = 128  # side of the lip crops (the lips fill ~50 px of a 256 frame)
  c.box_scales = dict(BOX_SCALES)  # box side / reference length per region
  return c


def _stage1(c: ml_collections.ConfigDict) -> None:
  """Stage I terms: weights, GAN mode, perceptual pyramid, equivariance, priors, Wing."""
  c.weights = ml_collections.ConfigDict(dict(
      perceptual=10.0,  # cascaded VGG-19 L1, whole image (face-vid2vid)
      perceptual_face=10.0,  # same on the face crop
      perceptual_lip=10.0,  # same on the lip crop
      # Not in the paper: L1 on an image pyramid, the image term of runs without pretrained
      # VGG-19 weights (the train-demo recipe); off in the paper's recipe.
      pixel=0.0,
      gan=1.0,  # global discriminator, generator side
      gan_face=1.0,  # face discriminator
      gan_lip=1.0,  # lip discriminator
      feature_matching=10.0,  # L1 of discriminator features, whole image
      feature_matching_face=10.0,  # same for the face discriminator
      feature_matching_lip=10.0,  # same for the lip discriminator
      equivariance=20.0,  # keypoints of a TPS-warped driving frame vs warped keypoints
      keypoint_prior=10.0,  # keypoint spread and mean depth
      head_pose=20.0,  # |M's pose - HopeNet's pose| in degrees, summed over the 3 angles
      deformation_prior=5.0,  # mean |expression delta|
      # Our choice: 1 - cosine lies in [0, 2], the scale of one GAN term; the paper gives none.
      identity=1.0,
      # Our choice: Wing in pixels of a 256 frame (~ L1 in px for big errors) averaged over
      # the 10 points; 1 keeps it well below the perceptual terms once keypoints are close.
      wing=1.0,
  ))
  c.gan_mode = "ls"  # 'ls' (face-vid2vid / FOMM) or 'hinge'
  c.pixel_scales = (1.0, 0.5, 0.25)  # image pyramid of the pixel term
  c.perceptual = ml_collections.ConfigDict()
  c.perceptual.scales = dict(  # image pyramid per region; crops stop before VGG runs out
      full=(1.0, 0.5, 0.25, 0.125), face=(1.0, 0.5, 0.25), lip=(1.0, 0.5, 0.25))
  c.perceptual.layer_weights = (1.0, 1.0, 1.0, 1.0, 1.0)  # relu1_1 .. relu5_1
  c.equivariance = ml_collections.ConfigDict()
  c.equivariance.sigma_affine = 0.05  # std of the affine perturbation (face-vid2vid)
  c.equivariance.sigma_tps = 0.005  # std of the spline weights (face-vid2vid)
  c.equivariance.points_tps = 5  # control points per side
  c.keypoint_prior = ml_collections.ConfigDict()
  c.keypoint_prior.distance = 0.1  # squared distance below which a pair is penalised
  c.keypoint_prior.depth = 0.33  # target mean depth z of the driving keypoints
  c.wing = ml_collections.ConfigDict()
  c.wing.w = 10.0  # Wing width (pixels of a 256 frame)
  c.wing.eps = 2.0  # Wing curvature
  # (keypoint, landmark) pairs of paper Eq. 3, which names no indices. Which keypoints are eye
  # and lip keypoints is official: the inference code retargets the eyes with keypoints
  # (11, 13, 15, 16, 18) and the lips with (6, 12, 14, 17, 19, 20) (ops.motion.EYES_IDX /
  # LIP_IDX); each pairs here with a landmark of its own region (203-point layout: eyes 0-47,
  # lips from 48). Which landmark within the region is our guess: the lid mid-points (6/18,
  # 30/42) for 11/13, 15/16; an eye corner (0) for 18; the inner-lip mid-points (90/102) for
  # 14/17 and the mouth corners (48/66) for 6/12. Stage II's ratio proxy relies on the lid and
  # lip pairs.
  c.wing.pairs = ((11, 6), (13, 18), (15, 30), (16, 42), (18, 0), (14, 90), (17, 102), (6, 48),
                  (12, 66))


def _stage2(c: ml_collections.ConfigDict) -> None:
  """Stage II terms: weights, the cross-identity pairing and the openness-ratio requests."""
  c.weights = ml_collections.ConfigDict(dict(
      stitching=1.0,  # L1 to the source outside both faces (shoulders), Eq. 5
      stitching_delta=1.0,  # mean |stitching offset|
      eye_region=1.0,  # L1 to the source outside the eye boxes, Eq. 6
      eye_delta=1.0,  # mean |eye offset|
      eye_condition=1.0,  # |reached eye ratio - requested|
      lip_region=1.0,  # L1 to the source outside the lip box
      lip_delta=1.0,  # mean |lip offset|
      lip_condition=1.0,  # |reached lip ratio - requested|
  ))
  c.cross_identity_shift = 1  # driving motion of sample (i - shift) mod B drives sample i
  c.ratios = ml_collections.ConfigDict()
  # How the openness of a render is measured (lp_jax.training.objectives.stage2).
  # 'landmark_model': landmark.onnx on the rendered eye / lip images, as Eq. 6 does; a non-empty
  # loss.landmark_model selects it (this replaces the keypoint-gap proxy whenever landmark.onnx
  # is given). 'keypoint_gap_proxy', the measure without a landmark model: the lid / lip gap of
  # the keypoints over the eye / mouth width.
  c.ratios.measure = "keypoint_gap_proxy"
  c.ratios.eye_keypoints = ((11, 13), (15, 16))  # (upper, lower) lid keypoints, left / right
  c.ratios.lip_keypoints = (14, 17)  # (upper, lower) inner-lip keypoints
  c.ratios.eye_width_per_iod = 0.45  # eye width / eye distance, for samples without landmarks
  c.ratios.mouth_width_per_iod = 0.8  # mouth width / eye distance, same
  c.ratios.min_width = 0.05  # floor of the widths (keypoint units; an eye is ~0.1 of a crop)
  c.ratios.random_target_prob = 0.5  # share of requests drawn uniformly instead of the driving's
  c.ratios.eye = dict(low=0.0, high=0.8)  # range of random eye requests (paper: [0, 0.8])
  c.ratios.lip = dict(low=0.0, high=0.8)  # range of random lip requests


def get_config(stage: int) -> ml_collections.ConfigDict:
  """The loss config of training stage 1 or 2 (field order as the library has always built it)."""
  if stage not in (1, 2):
    raise ValueError(f"stage must be 1 or 2, got {stage!r}")
  c = ml_collections.ConfigDict()
  c.network_image_size = 256  # F and M see 256 x 256 (images are resized when S differs)
  c.motion_image_size = 0  # the side M sees when it differs from F's (0: network_image_size)
  c.regions = _regions()  # landmark crops / masks
  # Whether any training clip has 203-point landmarks; the training loop sets it from the data
  # source (a folder source has none), and the terms that need them are off without.
  c.data_landmarks = True
  # LivePortrait's landmark.onnx ('' = none), e.g. pretrained_weights/liveportrait/landmark.onnx.
  # Stage II measures the eye / lip openness with it (ratios.measure 'landmark_model'); Stage I
  # finds the landmarks of samples without any with it, for the Wing term.
  c.landmark_model = ""
  (_stage1 if stage == 1 else _stage2)(c)
  return c
