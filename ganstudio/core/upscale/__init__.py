"""Super-resolution: networks, training task, tiled inference, model loading, batch upscaling.

Importing this package registers the "upscale" training task. The public entry points:

- ``load_any_upscaler(name_or_path)`` (community.py): bundled models, baselines, runs, files
- ``upscale_array(upscaler, image)`` (tiling.py): seamless tiled inference on a uint8 array
- ``read_image`` / ``save_upscaled`` (imageio.py): any image in, PNG with metadata out
- ``upscale_file`` / ``upscale_batch`` (batch.py): files and folders
- ``UpscaleOptions`` / ``UpscaleTask`` (task.py): training through ``core.trainer.train``
"""
from .batch import BatchResult, plan_batch, upscale_batch, upscale_file, upscale_image
from .community import (
                        available_bundled,
                        load_any_upscaler,
                        load_community,
                        load_model_file,
                        load_run_upscaler,
                        load_upscaler,
                        read_state_dict,
                        save_upscaler,
)
from .imageio import LoadedImage, read_image, save_upscaled
from .metrics import EvalResult, evaluate_crops, psnr, ssim
from .models import RDNSR, SR_ARCHS, CompactSR, SRDiscriminator, build_sr_model
from .task import UpscaleOptions, UpscaleTask, default_train_config
from .tiling import InferenceSettings, UpscaleCancelled, Upscaler, baseline, upscale_array

__all__ = [
                        "RDNSR",
                        "SR_ARCHS",
                        "BatchResult",
                        "CompactSR",
                        "EvalResult",
                        "InferenceSettings",
                        "LoadedImage",
                        "SRDiscriminator",
                        "UpscaleCancelled",
                        "UpscaleOptions",
                        "UpscaleTask",
                        "Upscaler",
                        "available_bundled",
                        "baseline",
                        "build_sr_model",
                        "default_train_config",
                        "evaluate_crops",
                        "load_any_upscaler",
                        "load_community",
                        "load_model_file",
                        "load_run_upscaler",
                        "load_upscaler",
                        "plan_batch",
                        "psnr",
                        "read_image",
                        "read_state_dict",
                        "save_upscaled",
                        "save_upscaler",
                        "ssim",
                        "upscale_array",
                        "upscale_batch",
                        "upscale_file",
                        "upscale_image",
]
