"""Checkpoints: state, never code.

One checkpoint is one ``.safetensors`` file. Tensors are stored under prefixes::

    model/<module>/<state-dict key>        weights and buffers (G, D, G_ema, ...)
    optim/<optimizer>/<param index>/<key>  optimiser moments
    rng/<stream>                           random generator states (data order, latents, torch)
    extra/<key>                            task extras (e.g. a CycleGAN image pool)

and the safetensors header's metadata holds one JSON document (key ``ganstudio``) with the step,
the run's config and task options, the facts needed to rebuild the networks, optimiser
hyper-parameters and JSON task state. Files are written to a temporary name and moved into place
with ``os.replace``, so a kill at any moment leaves the previous checkpoint whole. Loading goes
through safetensors only: a pickle (even renamed) is rejected before anything is executed.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import __version__
from .errors import CheckpointError, write_failure_reason
from .export import FILE_MODE, make_temp_beside

FORMAT = "ganstudio-checkpoint"
FORMAT_VERSION = 1
META_KEY = "ganstudio"
_STEP_FILE = re.compile(r"^step-(\d+)\.safetensors$")
BEST_NAME = "best.safetensors"


@dataclass
class Checkpoint:
    """A loaded checkpoint: its JSON document and its tensors (on the CPU)."""
    path: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under ``prefix/`` with the prefix removed."""
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def pack_state(*, step: int, meta: dict[str, Any], modules: dict[str, torch.nn.Module],
               optimizers: dict[str, torch.optim.Optimizer], rng: dict[str, torch.Tensor],
               extra_tensors: dict[str, torch.Tensor] | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten training state into (tensors, JSON document)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"model/{name}/{key}"] = value
    optim_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for key, value in st.items():
                if torch.is_tensor(value):
                    tensors[f"optim/{name}/{idx}/{key}"] = value
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        optim_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars,
                            "indices": [int(i) for i in sd["state"]]}
    for name, state in rng.items():
        tensors[f"rng/{name}"] = state
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra/{key}"] = value
    doc = dict(meta)
    doc.update({"format": FORMAT, "version": FORMAT_VERSION, "step": step, "app_version": __version__,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "optimizers": optim_meta})
    # safetensors wants contiguous, unshared CPU tensors (channels_last weights are not contiguous)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    return tensors, doc


def write_checkpoint(path: Path, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> Path:
    """Write atomically: temp file in the same folder, fsync, ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_beside(path)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(doc)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        os.chmod(path, FILE_MODE)  # safetensors writes 0600 files; a saved model is an ordinary file
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, Exception):   # OSError, and safetensors' own SafetensorError for I/O failures
            raise CheckpointError(f"Could not save checkpoint {path}: {write_failure_reason(e)}. "
                                  "Any earlier checkpoint is intact.") from e
        raise                          # KeyboardInterrupt, SystemExit
    return path


#: GAN Studio's file formats in words, and where each one is used
FORMAT_NAMES = {
    FORMAT: ("a training checkpoint", ""),
    "ganstudio-upscaler": ("an upscaler", ": open it in the Upscale tab (or ganstudio-cli upscale --model)"),
    "ganstudio-translator": ("a translator", ": open it in the Translate tab (or ganstudio-cli translate --model)"),
}


def read_checkpoint(path: str | os.PathLike, *, kind: str = FORMAT, wanted: str | None = None) -> Checkpoint:
    """Read a checkpoint written by ``write_checkpoint``; never unpickles.

    Raises CheckpointError naming the file if it is missing, truncated, corrupt, a pickle, or a
    safetensors file from another program. ``wanted`` says what the caller opens, in words (e.g. "a
    translator"), for the message when the file is another kind of GAN Studio file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            if raw is None:
                raise CheckpointError(f"{path} is a safetensors file but not a GAN Studio checkpoint "
                                      "(it has no GAN Studio metadata).")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt, truncated, or not in safetensors "
                              f"format; pickled .pt/.pth files are never loaded): {e}") from e
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} has damaged metadata: {e}.") from e
    if meta.get("format") != kind:
        found, where = FORMAT_NAMES.get(meta.get("format"), (f"a {meta.get('format', 'unknown')!r} file", ""))
        expected = wanted or FORMAT_NAMES.get(kind, (repr(kind), ""))[0]
        raise CheckpointError(f"{path.name} is {found}, not {expected}{where}.")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer GAN Studio (format {meta.get('version')}); "
                              "update the app to open it.")
    return Checkpoint(path, meta, tensors)


def load_module_state(ckpt: Checkpoint, name: str, module: torch.nn.Module) -> None:
    """Load ``model/<name>/`` into ``module``, refusing missing or unexpected keys and wrong shapes."""
    state = _module_weights(ckpt, name)
    _check_fit(ckpt, name, module.state_dict(), state)
    module.load_state_dict(state, strict=True)


def build_module(ckpt: Checkpoint, name: str, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The network ``name`` built as the file describes it (``build()``) with the file's weights.

    It is built for real only once a copy on PyTorch's "meta" device, which holds no memory, shows
    that the file's weights fit it exactly: a crafted description (a network thousands of channels
    wide) is refused instead of making GAN Studio allocate gigabytes.
    """
    state = _module_weights(ckpt, name)
    with torch.device("meta"):
        probe = build()
    _check_fit(ckpt, name, probe.state_dict(), state)
    module = build()
    module.load_state_dict(state, strict=True)
    return module


def _module_weights(ckpt: Checkpoint, name: str) -> dict[str, torch.Tensor]:
    state = ckpt.group(f"model/{name}")
    if not state:
        raise CheckpointError(f"{ckpt.path} has no weights for {name!r}.")
    return state


def _check_fit(ckpt: Checkpoint, name: str, own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{ckpt.path} does not match the network {name!r}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}.")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise CheckpointError(f"{ckpt.path}: {name}.{k} has shape {tuple(v.shape)}, "
                                  f"the network expects {tuple(own[k].shape)}.")


def load_optimizer_state(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> None:
    info = ckpt.meta.get("optimizers", {}).get(name)
    if info is None:
        raise CheckpointError(f"{ckpt.path} has no optimiser state for {name!r}.")
    tensors = ckpt.group(f"optim/{name}")
    state: dict[int, dict[str, Any]] = {}
    for idx in info["indices"]:
        entry: dict[str, Any] = dict(info["scalars"].get(str(idx), {}))
        prefix = f"{idx}/"
        entry.update({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        state[idx] = entry
    try:
        opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{ckpt.path}: optimiser state for {name!r} does not fit: {e}") from e
    # Give each moment its parameter's memory layout (channels_last): fused optimisers otherwise
    # take other code paths and round differently, so a resumed run would drift from an unbroken one.
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def list_step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of ``step-N.safetensors`` files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP_FILE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def step_checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:08d}.safetensors"


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest step checkpoints (the best one is a separate file)."""
    for _, p in list_step_checkpoints(folder)[:-keep]:
        try:
            p.unlink()
        except OSError:
            pass


def run_folder(checkpoint: Path) -> Path | None:
    """The run folder of a checkpoint inside ``RUN/checkpoints/``, else None (a file on its own)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def read_newest(run_dir: str | os.PathLike) -> tuple[Checkpoint, list[str]]:
    """The newest step checkpoint of a run that reads, and the newer ones that did not ("name
    (reason)"): a damaged newest checkpoint (a disk failure, a copy cut short) does not block the
    run. Raises CheckpointError when there is none, or the oldest's error when none reads."""
    found = list_step_checkpoints(Path(run_dir) / "checkpoints")
    if not found:
        raise CheckpointError(f"{run_dir} has no checkpoint.")
    damaged: list[str] = []
    for _, path in reversed(found[1:]):
        try:
            return read_checkpoint(path), damaged
        except CheckpointError as e:
            damaged.append(f"{path.name} ({e})")
    return read_checkpoint(found[0][1]), damaged   # the oldest: its error, if any, is the one raised


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_step_checkpoints(Path(run_dir) / "checkpoints")
    return found[-1][1] if found else None


def find_checkpoint(path: str | os.PathLike, prefer_best: bool = False) -> Path:
    """A checkpoint file from a file path or a run directory (latest, or best where asked and present)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        ck = path / "checkpoints"
        if prefer_best and (ck / BEST_NAME).is_file():
            return ck / BEST_NAME
        latest = latest_checkpoint(path)
        if latest is not None:
            return latest
        if (ck / BEST_NAME).is_file():
            return ck / BEST_NAME
        raise CheckpointError(f"{path} has no checkpoints yet (expected files in {ck}).")
    raise CheckpointError(f"{path} is neither a run folder nor a checkpoint file.")


def capture_rng(streams: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """States of the task's generators plus torch's global CPU (and CUDA) generators."""
    states = {f"task.{k}": g.get_state() for k, g in streams.items()}
    states["torch.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"torch.cuda.{i}"] = s
    return states


def restore_rng(ckpt: Checkpoint, streams: dict[str, torch.Generator]) -> None:
    rng = ckpt.group("rng")
    for k, g in streams.items():
        if f"task.{k}" not in rng:
            raise CheckpointError(f"{ckpt.path} lacks the random state {k!r}; it cannot be resumed exactly.")
        g.set_state(rng[f"task.{k}"])
    if "torch.cpu" in rng:
        torch.set_rng_state(rng["torch.cpu"])
    if torch.cuda.is_available():
        cuda = [rng[f"torch.cuda.{i}"] for i in range(torch.cuda.device_count()) if f"torch.cuda.{i}" in rng]
        if cuda and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
