# Copyright 2026 The lp_jax Authors. Licensed under the Apache License, Version 2.0.
"""lp_jax: LivePortrait in JAX/Flax."""

from setuptools import find_packages, setup

# The jax release the AOT extras (libtpu, the CUDA compiler plugin) are pinned to; they are
# built per release and pull that jax / jaxlib in with them.
JAX_VERSION = "0.10.2"

setup(
    name="lp_jax",
    version="0.1.0",
    description="LivePortrait (implicit-keypoint portrait animation) in JAX/Flax",
    license="Apache-2.0",
    python_requires=">=3.10",
    # configs/ stays a top-level folder for users (`--config configs/stage1.py`) but installs as
    # lp_jax_configs: a top-level package named `configs` would clash in any environment. The
    # configs import one another by that name; lp_jax never imports them (docs/architecture.md).
    packages=find_packages(include=["lp_jax", "lp_jax.*", "convert_weights"]) + ["lp_jax_configs"],
    package_dir={"lp_jax_configs": "configs"},
    # The official neutral-lip constant (63 numbers from lip_array.pkl), read by image driving;
    # the GPU target configs of `python -m lp_jax.aot` (GpuTargetConfigProto text); the demo's
    # photo and driving clip and the demo model's weights (`make demo` needs nothing beside the
    # repository).
    package_data={"lp_jax": ["resources/*.json", "resources/demo/*", "resources/demo_model/**/*"],
                  "lp_jax.aot": ["gpu_targets/*.txtpb"]},
    install_requires=[
        f"jax=={JAX_VERSION}",
        "flax>=0.10",
        "optax",
        "orbax-checkpoint",
        "ml-collections",
        "numpy",
        "opencv-python-headless==4.10.0.84",
        "ml-dtypes",  # bfloat16 / float8 tensors in .pth files (already a jax dependency)
        # The ffmpeg binary for H.264 output and audio muxing, as the official pipeline uses.
        "imageio-ffmpeg",
        # Runs the official ONNX face models (InsightFace detector, 106 and 203 landmarks). The
        # official pin is 1.18.0, which needs NumPy 1; 1.20.1 is the newest release whose CPU
        # kernels give those models' outputs bit for bit (1.21 moves the detector's by an ulp).
        "onnxruntime==1.20.1",
        # Reads the 106-point model's graph: InsightFace picks that model's input normalisation
        # from the names of its first nodes, which onnxruntime does not expose.
        "onnx",
        # Training data (lp_jax.data): Grain pipelines; the lp_clips TFDS builder writes and reads
        # ArrayRecord shards without TensorFlow. importlib_resources: tensorflow-datasets 4.9.10
        # imports it while preparing a dataset defined outside its package, but only declares it
        # for Python < 3.9.
        "grain",
        "tensorflow-datasets",
        "array-record",
        "importlib_resources",
        # The web app (python -m lp_jax.app): Gradio, the standard UI of the field (the official
        # LivePortrait app uses it). In the base install so a fresh clone serves the page after
        # `make demo`'s install; 6.x for api_visibility / footer_links / launch(css=...).
        "gradio>=6.0",
    ],
    extras_require={
        # torch only writes official-format checkpoints in tests and for --export; the library
        # never imports it. The pin matches the CPU wheel on the build machines.
        # playwright drives the system chromium (apt) in the web-app browser test; it never
        # downloads a browser of its own.
        # pytest-xdist: `make test` spreads the test files over two processes (XLA compiles on
        # one core, so two processes keep both cores busy).
        "test": ["pytest", "pytest-xdist", "torch==2.13.0", "psutil", "playwright"],
        # `python -m lp_jax.bench --official DIR` imports the official LivePortrait wrapper from
        # the user's checkout; these are the imports of that wrapper and its modules beyond our
        # own dependencies (numpy, opencv), with torch at the CPU wheel of the test extra.
        "official": ["torch==2.13.0", "pyyaml", "rich", "scipy"],
        # Driving the web app from Python (gradio_client also comes with gradio).
        "app": ["gradio_client"],
        # Ahead-of-time compilation (python -m lp_jax.aot) without the hardware, pinned to the
        # jax version they were built against: libtpu for TPU topologies, the CUDA PJRT plugin
        # (no GPU or driver needed) for GPU targets.
        "tpu": [f"jax[tpu]=={JAX_VERSION}"],
        "gpu-aot": [f"jax-cuda12-plugin=={JAX_VERSION}", f"jax-cuda12-pjrt=={JAX_VERSION}"],
    },
)
