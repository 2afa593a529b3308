"""What a kind of model plugs into the one trainer (``ganstudio.core.trainer.train``).

A task owns its data, networks, optimisers and step; the trainer owns everything around it: the
run directory, metrics, previews, checkpoints, resume, stopping, pausing, NaN recovery, EMA-free
bookkeeping and events. GAN, Upscale and Translate runs therefore produce identical run
directories and the GUI and CLI drive all of them the same way.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from .config import TrainConfig
from .distributed import SINGLE, DistInfo, wrap
from .errors import ConfigError


@dataclass(frozen=True)
class TaskContext:
    """Everything a task needs from the trainer when it is built."""
    config: TrainConfig
    device: torch.device
    autocast_dtype: torch.dtype | None           # None: plain fp32
    progress: Callable[[str, float], None] | None = None   # (what, fraction 0..1) while loading data
    should_stop: Callable[[], bool] | None = None          # lets a long data scan be cancelled
    dist: DistInfo = SINGLE                                 # this process's place under torchrun

    def autocast(self):
        """A context manager for the forward passes (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


class TrainingTask(ABC):
    """Base class of the GAN, Upscale and Translate tasks.

    Subclasses set ``name`` and ``Options`` (a frozen dataclass), build data and networks in
    ``__init__(options, ctx)`` and implement the abstract methods.
    """

    name: ClassVar[str]
    Options: ClassVar[type]
    #: metric from ``evaluate`` whose best value keeps a "best" checkpoint (None: no validation)
    best_metric: ClassVar[str | None] = None
    #: TrainConfig values that suit this task better than the GAN-oriented defaults (CLI and GUI start from them)
    default_config: ClassVar[dict[str, Any]] = {}
    #: whether the task trains under torchrun (several processes sharing each batch; distributed.py)
    supports_distributed: ClassVar[bool] = False
    #: names in ``rng_streams()`` that each rank draws for itself under torchrun (its share's
    #: augmentation); the others are drawn alike on every rank (the global batch's indices, latents)
    rank_streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any, ctx: TaskContext) -> None:
        self.options = options
        self.ctx = ctx
        self.dataset_size = 0        # usable training examples
        self.dataset_unit = "images"  # what they are, in words ("pairs" for paired translation)
        self.skipped: list[Any] = []  # data.SkippedFile: files skipped as unusable, with reasons
        self.images_per_step = ctx.config.batch_size * ctx.dist.world   # the whole job's, under torchrun

    @property
    def skipped_files(self) -> int:
        return len(self.skipped)

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """Every network whose weights go in a checkpoint, by stable name (e.g. G, D, G_ema)."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser whose state goes in a checkpoint, by stable name."""

    def rng_streams(self) -> dict[str, torch.Generator]:
        """Random generators (data order, crops, latents) whose state is checkpointed for exact resume."""
        return {}

    @abstractmethod
    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached 0-d tensors (no .item(): the trainer syncs rarely)."""

    @abstractmethod
    def preview(self) -> np.ndarray:
        """The model's current output on fixed inputs (the run's fixed latents) as a uint8 HxWxC image:
        RGB or grey, or an RGBA ``data.preview_sheet`` whose transparent gaps the app fills with its
        background (the PNG in the run gets white ones)."""

    def evaluate(self) -> dict[str, float] | None:
        """Validation metrics, or None for tasks without validation."""
        return None

    def extra_state(self) -> dict[str, Any]:
        """JSON-able state beyond tensors (e.g. the data sampler's epoch and position)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors beyond module weights and optimiser state (e.g. a CycleGAN history pool)."""
        return {}

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what ``extra_tensors`` returned."""

    def health(self, step: int, metrics: dict[str, float]) -> list[tuple[str, str]]:
        """Plain-language (level, message) notes about the latest averaged metrics."""
        return []

    def prepare_for_export(self) -> None:
        """Called before a checkpoint is written: bring inference networks up to date (e.g. statistics)."""

    def start_notes(self) -> list[tuple[str, str]]:
        """(level, message) notes known before the first step, about the data or the options; the
        trainer says them as training starts, not with the first metrics."""
        return []

    def _once(self, key: str) -> bool:
        """True the first time ``key`` is seen: health notes are given once per run, not every step."""
        given = self.__dict__.setdefault("_notes_given", set())
        if key in given:
            return False
        given.add(key)
        return True

    def scale_learning_rates(self, factor: float) -> None:
        """Multiply every optimiser's learning rate (NaN recovery lowers it)."""
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] *= factor

    def model_info(self) -> dict[str, Any]:
        """JSON-able facts a reader of the checkpoint needs to rebuild the inference network."""
        return {}


_TASKS: dict[str, type[TrainingTask]] = {}


def register_task(cls: type[TrainingTask]) -> type[TrainingTask]:
    """Class decorator adding a task to the registry under ``cls.name``."""
    _TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[TrainingTask]:
    _load_builtin_tasks()
    if name not in _TASKS:
        raise ConfigError(f"Invalid task {name!r}. Only {', '.join(sorted(_TASKS))} are supported.")
    return _TASKS[name]


def default_train_config(task: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig for ``task``: the dataclass defaults, the task's own defaults, then ``overrides``."""
    values = {**get_task(task).default_config, **overrides, "task": task}
    return TrainConfig(**values)


def task_names() -> list[str]:
    _load_builtin_tasks()
    return sorted(_TASKS)


def _load_builtin_tasks() -> None:
    # Imported lazily so that importing the registry stays cheap and cycle-free.
    import importlib

    for module in ("ganstudio.core.gan", "ganstudio.core.upscale", "ganstudio.core.translate"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:  # a task package not present in this build
            if e.name != module:
                raise


def wrap_for_ranks(ctx: TaskContext, module: torch.nn.Module | None, *,
                   broadcast_buffers: bool = True) -> torch.nn.Module | None:
    """The network a task's step should call: DistributedDataParallel under torchrun, else itself."""
    return wrap(ctx.dist, module, ctx.device, broadcast_buffers=broadcast_buffers)
