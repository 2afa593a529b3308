"""Run configuration: frozen dataclasses with a comment on every field.

A run is ``TrainConfig`` (what every task shares: how long, how fast, where) plus the task's own
options dataclass (``GanOptions``, ``UpscaleOptions``, ``TranslateOptions``), registered in
``ganstudio.core.tasks``. GUI forms and CLI flags map onto these same fields; config.json in the
run directory is ``to_json`` of both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError


#: seeds run from 0 to this (training seeds and generation seeds; what the app's seed boxes offer)
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class TrainConfig:
    task: str = "gan"                   # which kind of model: "gan" | "upscale" | "translate"
    steps: int | None = 2000            # stop after this many optimisation steps (a time limit given
                                        # alone drops it; with both, the first reached stops)
    minutes: float | None = None        # stop after this many minutes of training (none by default)
    batch_size: int = 64                # images per step
    lr_g: float = 2e-4                  # learning rate of the generator, the network you keep (the primer's 2e-4)
    lr_d: float = 2e-4                  # discriminator learning rate
    beta1: float = 0.5                  # Adam beta1: momentum (GANs: the primer's 0.5, as less keeps them stable)
    beta2: float = 0.999                # Adam beta2
    ema: bool = True                    # keep an exponential moving average of G for previews and export
    ema_decay: float = 0.999            # EMA weight of the old average per step (0.999 ~ last 1000 steps)
    precision: str = "auto"             # "auto" (bf16 where the CPU or GPU runs it fast, fp16 on older GPUs,
                                        # else fp32) | "fp32" | "bf16" | "fp16" (GPUs)
    channels_last: bool = True          # NHWC memory layout for conv nets (faster on CPU oneDNN and GPUs)
    device: str = "auto"                # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    threads: int = 0                    # CPU threads for torch (0: all free cores)
    seed: int = 0                       # seeds every random choice: init, data order, latents, crops
    deterministic: bool = False         # bit-identical runs for one seed on the CPU (slower kernels on GPU)
    log_every: int = 10                 # steps between metric records (one CPU-GPU sync each)
    sample_every: int = 200             # steps between preview grids written to samples/
    sample_seconds: float | None = None  # also refresh samples/latest.png every this many seconds
                                        # of training (or 50x the preview's cost if longer; the app
                                        # uses 15 s); None: by steps only, as headless runs do
    eval_every: int = 500               # steps between validations (tasks that have one)
    checkpoint_every: int = 500         # steps between checkpoints
    keep_checkpoints: int = 3           # how many recent checkpoints to keep (the best one is kept too)
    nan_policy: str = "recover"         # on NaN/inf losses: "recover" (reload last checkpoint, halve lr) | "stop"

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ConfigError("Give a step limit or a time limit (steps or minutes); both are empty.")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}.")
        if self.minutes is not None and self.minutes <= 0:
            raise ConfigError(f"minutes must be positive, got {self.minutes}.")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED:,}, got {self.seed}.")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (all free cores) or more, got {self.threads}.")
        for name in ("lr_g", "lr_d"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}.")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("Adam betas must be in [0, 1).")
        if not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be between 0 and 1, got {self.ema_decay}.")
        for name in ("log_every", "sample_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.sample_seconds is not None and not self.sample_seconds > 0:
            raise ConfigError(f"sample_seconds must be positive (or empty), got {self.sample_seconds}.")
        if self.nan_policy not in ("recover", "stop"):
            raise ConfigError(f"Invalid nan_policy {self.nan_policy!r}. Only 'recover' and 'stop' are supported.")


def to_dict(obj: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-able dict."""
    return dataclasses.asdict(obj)


def from_dict(cls: type, data: dict[str, Any]):
    """Build ``cls`` from a dict, refusing unknown keys (a config from a newer/other app).

    A field missing from ``data`` (saved before the field existed) takes its default, or the value
    in the class's ``SAVED_WITHOUT`` mapping when the old behaviour differs from the new default."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} option(s): {', '.join(sorted(unknown))}.")
    older = {k: v for k, v in getattr(cls, "SAVED_WITHOUT", {}).items() if k not in data}
    return cls(**older, **data)


def field_help(cls: type) -> dict[str, str]:
    """The comment written beside each field of a config dataclass (one source for CLI help and tooltips)."""
    import inspect
    import re

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^\s+(\w+)\s*:\s*[^=#]+(?:=[^#]*)?#\s*(.+)$")
    more = re.compile(r"^\s+#\s*(.+)$")     # a comment alone on the next lines continues the field's
    helps: dict[str, str] = {}
    name = None
    for line in source.splitlines():
        if m := pattern.match(line):
            name = m.group(1)
            helps[name] = m.group(2).strip()
        elif name is not None and (c := more.match(line)):
            helps[name] += " " + c.group(1).strip()
        else:
            name = None
    return helps
