"""Loading upscalers: bundled models, our own exports and runs, community files, baselines.

Loading never runs code from a file. Community files are read as tensors only
(``safetensors`` or ``torch.load(weights_only=True)``; TorchScript archives are refused, not
executed) and the state dict is handed to spandrel's architecture detection. spandrel's own
``load_from_file`` is not used because it opens ``.pt`` files with ``torch.jit.load`` first.

GAN Studio's own upscaler format is a safetensors file of the generator's weights whose metadata
key ``ganstudio`` holds JSON: ``{"format": "ganstudio-upscaler", "arch", "scale", "channels",
"kwargs", ...}`` plus free facts (training data, metrics) that the model card and picker show.
"""
from __future__ import annotations

import json
import os
import pickle  # only to name the error torch.load(weights_only=True) raises; nothing is unpickled
import pickletools  # parses a refused file's opcodes to tell a pickle from garbage; runs nothing
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ... import __version__
from ..checkpoint import FORMAT as CHECKPOINT_FORMAT
from ..checkpoint import find_checkpoint, read_checkpoint, run_folder
from ..errors import CheckpointError, ConfigError
from ..export import FILE_MODE
from ..resources import resources_dir
from .models import build_sr_model, compact_bytes_per_pixel
from .tiling import BASELINES, DEFAULT_BYTES_PER_PIXEL, DEFAULT_CONTEXT, Upscaler, baseline

UPSCALER_FORMAT = "ganstudio-upscaler"
META_KEY = "ganstudio"
#: file types read as community models
COMMUNITY_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
#: bundled model names -> file under resources/models
BUNDLED = {"bundled-x2": "upscale-x2.safetensors", "bundled-x4": "upscale-x4.safetensors"}
#: environment variable that points at another resources folder (read by core.resources)
RESOURCES_ENV = "GANSTUDIO_RESOURCES"
#: containers that community checkpoints wrap their weights in, most specific first
_CONTAINER_KEYS = ("params_ema", "params-ema", "params", "state_dict", "model_state_dict", "model", "net",
                   "generator")


def bundled_path(name: str) -> Path:
    """The file of a bundled model ("bundled-x2" | "bundled-x4"), whether or not it exists."""
    if name not in BUNDLED:
        raise ConfigError(f"Unknown bundled model {name!r}. Only {', '.join(BUNDLED)} exist.")
    return resources_dir() / "models" / BUNDLED[name]


def available_bundled() -> list[str]:
    """Bundled model names whose files are present."""
    return [n for n in BUNDLED if bundled_path(n).is_file()]


# -- our own format ---------------------------------------------------------------------------
def save_upscaler(model: nn.Module, path: str | os.PathLike, info: dict[str, Any] | None = None) -> Path:
    """Export a GAN Studio SR network as a safetensors upscaler file (atomic; replaces ``path``).

    ``info`` adds JSON-able facts (training data, steps, metrics) to the description; the
    architecture, scale, channels and rebuild kwargs are taken from the network itself.
    """
    if not hasattr(model, "config") or not hasattr(model, "arch"):
        raise CheckpointError("Only GAN Studio upscaler networks (compact, rrdb) can be exported in this "
                              "format.")
    path = Path(path)
    doc = dict(info or {})
    doc.update({"format": UPSCALER_FORMAT, "arch": model.arch, "scale": model.scale,
                "channels": model.channels, "kwargs": model.config(), "app_version": __version__})
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(doc)})
        os.replace(tmp, path)
        os.chmod(path, FILE_MODE)  # safetensors writes 0600 files; a saved model is an ordinary file
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"Could not write {path}: {e.strerror or e}.") from e
    return path


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name} is not a readable safetensors file (corrupt, truncated, or "
                              f"another format renamed): {e}") from e


def _description(meta: dict[str, str], path: Path) -> dict[str, Any] | None:
    raw = meta.get(META_KEY)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path.name} has damaged GAN Studio metadata: {e}.") from e
    return doc if isinstance(doc, dict) else None


def build_from_description(doc: dict[str, Any], state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    """Rebuild a GAN Studio SR network from its JSON description and load ``state`` strictly."""
    try:
        net = build_sr_model(str(doc["arch"]), int(doc["scale"]), int(doc.get("channels", 3)),
                             **dict(doc.get("kwargs", {})))
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path.name} describes a network this version cannot build: {e}") from e
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad_shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad_shape:
        raise CheckpointError(f"{path.name}: the weights do not fit the described {doc['arch']} network "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]}, "
                              f"wrong shape {bad_shape[:3]}).")
    net.load_state_dict(state, strict=True)
    return net.eval()


def _ours(net: nn.Module, name: str, path: Path | None, doc: dict[str, Any]) -> Upscaler:
    return Upscaler(name=name, arch=net.arch, scale=net.scale, module=net, forward=net.inference_forward,
                    phases=net.inference_phases, write_uint8=net.write_uint8, cpu_tile=net.cpu_tile,
                    in_channels=net.channels, context=net.context, exact=True,
                    bytes_per_pixel=net.bytes_per_pixel, source=path, info=doc)


def load_upscaler(path: str | os.PathLike, name: str | None = None) -> Upscaler:
    """Load a GAN Studio upscaler file written by ``save_upscaler``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Upscaler file {path} does not exist.")
    state, meta = _read_safetensors(path)
    doc = _description(meta, path)
    if doc is None or doc.get("format") != UPSCALER_FORMAT:
        raise CheckpointError(f"{path.name} is not a GAN Studio upscaler file "
                              f"(no '{UPSCALER_FORMAT}' metadata).")
    return _ours(build_from_description(doc, state, path), name or path.stem, path, doc)


def load_run_upscaler(run_dir: str | os.PathLike) -> Upscaler:
    """The best (else latest) generator of an upscale training run (EMA weights when kept)."""
    run_dir = Path(run_dir)
    ckpt = read_checkpoint(find_checkpoint(run_dir, prefer_best=True))
    up = _from_checkpoint(ckpt.tensors, ckpt.meta, ckpt.path)
    up.name = run_dir.name
    up.info["run"] = str(run_dir)
    return up


def _from_checkpoint(state: dict[str, torch.Tensor], doc: dict[str, Any], path: Path) -> Upscaler:
    """The generator inside a trainer checkpoint (``model/G_ema/...`` if kept, else ``model/G/...``)."""
    if doc.get("task") != "upscale":
        raise CheckpointError(f"{path.name} is a GAN Studio {doc.get('task')!r} checkpoint, not an upscaler.")
    module_name = "G_ema" if any(k.startswith("model/G_ema/") for k in state) else "G"
    prefix = f"model/{module_name}/"
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    info = dict(doc.get("model_info") or {})
    net = build_from_description(info, weights, path)
    info.update({"step": doc.get("step"), "checkpoint": path.name})
    # a checkpoint inside RUN/checkpoints/ is known by its run ("best" or "step-00000400" say little)
    run = run_folder(path)
    name = run.name if run is not None else path.stem
    return _ours(net, name, path, info)


# -- community files ----------------------------------------------------------------------------
def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a model file, without ever running code from it.

    ``.safetensors`` is read by safetensors; anything else by ``torch.load(weights_only=True)``,
    which refuses any pickled object that is not a tensor or a plain container. TorchScript
    archives (code) are refused. Common wrappers (``params_ema``, ``state_dict``...) are unwrapped
    and ``module.`` prefixes removed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Model file {path} does not exist.")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)[0]
    if zipfile.is_zipfile(path) and _is_torchscript(path):
        raise CheckpointError(f"{path.name} is a TorchScript archive, which contains program code; "
                              "GAN Studio only loads plain weights (.pth/.ckpt state dicts or .safetensors).")
    try:
        with warnings.catch_warnings():  # old-protocol files load fine; the notice would only confuse users
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch says "Weights only load failed" both for a pickle that holds code and for bytes that
        # are no pickle at all; only the first is a safety matter
        if _holds_a_pickle(path):
            raise CheckpointError(f"{path.name} contains Python objects other than weights (possibly code), "
                                  "so it was refused for safety. Use a .safetensors or plain state-dict .pth "
                                  "version of the model.") from e
        raise CheckpointError(_not_a_model_file(path)) from e
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError, KeyError,
            TypeError, UnicodeDecodeError, ImportError, IndexError) as e:
        raise CheckpointError(_not_a_model_file(path)) from e
    return unwrap_state_dict(obj, path)


def _not_a_model_file(path: Path) -> str:
    # torch's own reasons ("101", "invalid load key", miniz internals) mean nothing to a user
    return f"{path.name} is not a readable model file (corrupt, truncated or an unknown format)."


def _holds_a_pickle(path: Path) -> bool:
    """True when the file's object stream is a well-formed pickle (protocol 0 to 5): the whole file,
    or ``data.pkl`` inside torch's zip format. Only opcodes are parsed: nothing is imported or run."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                if name is None:
                    return False
                with z.open(name) as f:
                    return _well_formed_pickle(f)
        with open(path, "rb") as f:
            return _well_formed_pickle(f)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False


def _well_formed_pickle(stream: Any) -> bool:
    """The opcodes parse up to STOP and every memo read refers to an earlier write (random bytes
    or text fail one or the other within a few opcodes)."""
    memo: set[Any] = set()
    for op, arg, _pos in pickletools.genops(stream):   # raises ValueError on bytes that are no opcode
        if op.name == "MEMOIZE":
            memo.add(len(memo))
        elif op.name.endswith("PUT"):
            memo.add(arg)
        elif op.name.endswith("GET") and arg not in memo:
            return False
        elif op.name == "STOP":
            return True
    return False


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The flat name -> tensor dict inside a checkpoint container."""
    for _ in range(3):  # containers nest at most a couple of levels in the wild
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None and len(obj) == 1 and isinstance(next(iter(obj.values())), dict):
            inner = next(iter(obj.values()))
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path.name} does not hold a state dict (found {type(obj).__name__}).")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path.name} holds no weights.")
    for prefix in ("module.", "netG.", "_orig_mod."):
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def load_community(path: str | os.PathLike) -> Upscaler:
    """A community SR model file, architecture and scale detected by spandrel."""
    import spandrel

    path = Path(path)
    state = read_state_dict(path)
    try:
        desc = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError as e:
        raise CheckpointError(f"{path.name} is not a model architecture GAN Studio can read (detected by "
                              f"spandrel {spandrel.__version__}: ESRGAN, Real-ESRGAN Compact, SwinIR, HAT, "
                              "SPAN, OmniSR and more). It may be a different kind of network or a newer "
                              "architecture.") from e
    except Exception as e:  # noqa: BLE001 - malformed weights fail inside architecture code in many ways
        raise CheckpointError(f"{path.name} looks like a known architecture but its weights do not fit it: "
                              f"{_short(e)}") from e
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise CheckpointError(f"{path.name} is a {desc.architecture.name} model for {desc.purpose.lower()}, "
                              "not an image upscaler.")
    if desc.input_channels not in (1, 3) or desc.output_channels != desc.input_channels:
        raise CheckpointError(f"{path.name} maps {desc.input_channels} to {desc.output_channels} channels; "
                              "only RGB and grey models are supported.")
    desc.model.eval()
    # Real-ESRGAN Compact: one 3x3 conv per body layer plus the nearest skip, so its radius is known
    # (exact tiling); other architectures get the default margin and rely on the cross-fade.
    # Its working memory is known too: a few feature maps at the input's size plus the upscaled
    # output. Other architectures keep the cautious default; for a Compact model that default made
    # tiles of 176 px on a 1024 px image, whose overlaps cost a third of the time (2.8 against
    # 4.1 MP/s with the 372 px tiles this estimate allows, realesr-general-x4v3's shape).
    num_conv = getattr(desc.model, "num_conv", None) if desc.architecture.id == "Compact" else None
    num_feat = getattr(desc.model, "num_feat", None) if desc.architecture.id == "Compact" else None
    context = int(num_conv) + 3 if num_conv is not None else DEFAULT_CONTEXT
    bytes_per_pixel = (compact_bytes_per_pixel(int(num_feat), desc.output_channels, desc.scale)
                       if num_feat is not None else DEFAULT_BYTES_PER_PIXEL)
    return Upscaler(
        name=path.stem, arch=desc.architecture.name, scale=desc.scale, module=desc.model, forward=desc,
        in_channels=desc.input_channels, context=context, bytes_per_pixel=bytes_per_pixel,
        supports_bf16=bool(desc.supports_bfloat16),
        supports_fp16=bool(desc.supports_half), purpose=desc.purpose, source=path,
        info={"tags": list(desc.tags), "spandrel_id": str(desc.architecture.id)})


def load_model_file(path: str | os.PathLike) -> Upscaler:
    """A model file of either kind: our own upscaler/checkpoint format first, else a community file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Model file {path} does not exist.")
    if path.suffix.lower() not in COMMUNITY_SUFFIXES:
        raise CheckpointError(f"{path.name}: unsupported model file type {path.suffix or '(none)'}. "
                              f"Only {', '.join(COMMUNITY_SUFFIXES)} are supported.")
    if path.suffix.lower() == ".safetensors":
        state, meta = _read_safetensors(path)
        doc = _description(meta, path)
        if doc is not None and doc.get("format") == UPSCALER_FORMAT:
            return _ours(build_from_description(doc, state, path), path.stem, path, doc)
        if doc is not None and doc.get("format") == CHECKPOINT_FORMAT:
            return _from_checkpoint(state, doc, path)
    return load_community(path)


def load_any_upscaler(name_or_path: str | os.PathLike, *, scale: int | None = None) -> Upscaler:
    """Resolve what a user picked: "bundled-x2"/"bundled-x4", "bicubic"/"lanczos" (optionally
    "bicubic-x4", else ``scale``, default 2), a training run folder, or a model file.

    ``scale`` (the CLI's ``--scale``) chooses a baseline's scale; for a model with a fixed scale it
    may only repeat it: any other value is a ConfigError, never silently ignored.
    """
    if scale is not None and scale < 1:
        raise ConfigError(f"Invalid scale {scale}; it must be 1 or more (2 doubles the width and height).")
    text = str(name_or_path)
    if text in BUNDLED:
        path = bundled_path(text)
        if not path.is_file():
            raise CheckpointError(f"The bundled model {text} is missing ({path}); reinstall GAN Studio or "
                                  f"set {RESOURCES_ENV} to the folder that holds models/.")
        up = load_upscaler(path, name=text)
        _check_scale(up, scale, text, next((n for n in BUNDLED if n.endswith(f"-x{scale}")), None))
        return up
    method, _, suffix = text.partition("-x")
    if method in BASELINES and (not suffix or suffix.isdigit()):
        if not suffix:
            return baseline(method, scale if scale is not None else 2)
        up = baseline(method, int(suffix))
        _check_scale(up, scale, text, f"{method}-x{scale}")
        return up
    path = Path(name_or_path)
    if path.is_dir():
        up = load_run_upscaler(path)
    elif not path.exists():
        raise CheckpointError(f"{text} is neither a model file, a run folder, nor one of "
                              f"{', '.join(list(BUNDLED) + list(BASELINES))}.")
    else:
        up = load_model_file(path)
    _check_scale(up, scale, text, None)
    return up


def _check_scale(up: Upscaler, scale: int | None, picked: str, instead: str | None) -> None:
    """ConfigError when ``scale`` is given and is not the fixed scale of ``up`` (``picked``: what
    the user named it; ``instead``: the model to suggest for ``scale``, if there is one)."""
    if scale is None or scale == up.scale:
        return
    choice = instead or f"a model made for x{scale}"
    raise ConfigError(f"{picked} upscales x{up.scale} only; drop --scale or choose {choice}.")


def _short(e: BaseException, limit: int = 200) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class ModelSummary:
    """What ``ganstudio-cli info`` and the model picker show about a model."""
    name: str
    arch: str
    scale: int
    channels: int
    params: int
    is_sr: bool
    source: str | None
    description: str


def summarize(up: Upscaler) -> ModelSummary:
    return ModelSummary(up.name, up.arch, up.scale, up.in_channels, up.params, up.is_sr,
                        str(up.source) if up.source else None, up.describe())
