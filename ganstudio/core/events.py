"""Typed events the trainer sends to its observers.

Only plain data crosses threads: numbers, strings, paths and CPU uint8 numpy arrays (HxWxC).
Never tensors, never widgets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Started:
    run_dir: Path
    task: str
    device: str             # human description, e.g. "CPU (2 threads)"
    total_steps: int | None  # None when the run is limited by time only
    start_step: int          # > 0 when resuming
    dataset_size: int
    skipped_files: int
    dataset_unit: str = "images"   # what dataset_size counts: "images", or "pairs" for paired translation


@dataclass(frozen=True)
class StepEnded:
    step: int                    # steps completed so far
    metrics: dict[str, float]    # averaged over the steps since the previous StepEnded
    images_per_second: float
    elapsed_s: float
    eta_s: float | None          # None when unknown


@dataclass(frozen=True)
class SamplesReady:
    step: int
    image: np.ndarray            # uint8 HxWxC grid of the fixed preview latents / examples (RGBA: gaps transparent)
    path: Path | None            # where the PNG was written in the run directory


@dataclass(frozen=True)
class EvaluationDone:
    step: int
    metrics: dict[str, float]    # e.g. {"psnr": 31.2, "ssim": 0.91}
    best: bool                   # this evaluation produced the best checkpoint so far


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class HealthNote:
    step: int
    level: str                   # "info" | "warning" | "error"
    message: str                 # plain-language explanation with a suggestion


@dataclass(frozen=True)
class Paused:
    step: int


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str                  # "completed" | "stopped" | "time-limit" | "diverged" | "error"
    run_dir: Path
    checkpoint: Path | None
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


Event = Started | StepEnded | SamplesReady | EvaluationDone | CheckpointSaved | HealthNote | Paused | Resumed | Finished


class Observer(Protocol):
    """Anything callable with an event. Observers only display; they never change the run."""

    def __call__(self, event: Event) -> None: ...
