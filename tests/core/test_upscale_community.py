"""Loading models: community files through spandrel (never running their code), our own format,
bundled names, baselines, and refusing everything unsafe or broken with a message naming the file."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ganstudio.core.errors import CheckpointError
from ganstudio.core.upscale import community
from ganstudio.core.upscale.community import load_any_upscaler, load_upscaler, read_state_dict, save_upscaler
from ganstudio.core.upscale.models import build_sr_model


def spandrel_compact(scale: int = 2, in_ch: int = 3) -> torch.nn.Module:
    """A small Real-ESRGAN SRVGGNetCompact, built from spandrel's own architecture code."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    return Compact(num_in_ch=in_ch, num_out_ch=in_ch, num_feat=8, num_conv=2, upscale=scale).eval()


def run(module_or_up, x: torch.Tensor) -> torch.Tensor:
    fn = getattr(module_or_up, "call", module_or_up)
    with torch.no_grad():
        return fn(x)


@pytest.mark.parametrize("suffix,wrap", [
    (".pth", None), (".pth", "params_ema"), (".ckpt", "state_dict"), (".pt", None), (".safetensors", None),
    (".pth", "module."),
])
def test_spandrel_model_round_trips(tmp_path: Path, suffix: str, wrap: str | None) -> None:
    net = spandrel_compact(scale=4)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    if wrap == "module.":
        state = {"module." + k: v for k, v in state.items()}
    elif wrap:
        state = {wrap: state, "epoch": 7}
    path = tmp_path / f"4x-Tiny{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)   # saving is fine; loading must be weights only

    up = load_any_upscaler(path)
    assert up.arch == "RealESRGAN Compact"
    assert up.scale == 4 and up.in_channels == 3 and up.is_sr
    assert up.params == sum(p.numel() for p in net.parameters())
    x = torch.rand(1, 3, 10, 12)
    assert torch.allclose(run(up, x), run(net, x).clamp(0, 1), atol=1e-6)
    assert "RealESRGAN Compact x4" in up.describe()


def test_community_compact_tiles_exactly(tmp_path: Path) -> None:
    import numpy as np

    from ganstudio.core.upscale.tiling import upscale_array

    net = spandrel_compact(scale=2)
    with torch.no_grad():
        net.body[-1].weight.mul_(5)   # a residual that changes the picture
    path = tmp_path / "c.safetensors"
    save_file(net.state_dict(), str(path))
    up = load_any_upscaler(path)
    assert up.context == 2 + 3
    # its working memory is estimated from its width (8 features, x2 RGB), not the cautious default
    # for unknown architectures, so automatic tiles are not needlessly small
    assert up.bytes_per_pixel == 4 * (4 * 8 + 3 * 3 * 4)
    img = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    whole = upscale_array(up, img, tile=0, device="cpu", precision="fp32")
    tiled = upscale_array(up, img, tile=24, device="cpu", precision="fp32")
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_grey_community_model_reports_one_channel(tmp_path: Path) -> None:
    path = tmp_path / "grey.pth"
    torch.save(spandrel_compact(2, in_ch=1).state_dict(), path)
    up = load_any_upscaler(path)
    assert up.in_channels == 1 and up.scale == 2


class _Payload:
    """Unpickling this calls ``fn(*args)``: what a malicious model file does."""

    def __init__(self, fn, *args) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker: Path) -> list[_Payload]:
    return [_Payload(open, str(marker), "w"), _Payload(os.system, f"touch '{marker}'")]


def test_the_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    # control: plain pickle executes it, so the refusals below are meaningful
    marker = tmp_path / "control"
    obj = pickle.loads(pickle.dumps(_payloads(marker)[0]))
    obj.close()
    assert marker.exists()


@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt", ".safetensors", ".bin"])
@pytest.mark.parametrize("which", [0, 1])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path: Path, container: str, suffix: str,
                                                      which: int) -> None:
    marker = tmp_path / "pwned"
    payload = {"params_ema": {"body.0.weight": torch.zeros(1)}, "evil": _payloads(marker)[which]}
    path = tmp_path / f"model{suffix}"
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match=path.name):
        load_any_upscaler(path)
    with pytest.raises(CheckpointError):
        read_state_dict(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_archive_is_refused_not_run(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Conv2d(3, 12, 3, padding=1)).save(str(path))
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_any_upscaler(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all" * 10, b"PK\x03\x04broken zip"])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_corrupt_files_get_a_clear_error(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken"):
        load_any_upscaler(path)


def test_truncated_safetensors(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_file(spandrel_compact().state_dict(), str(good))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_any_upscaler(cut)


def test_foreign_state_dict_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "classifier.pth"
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(CheckpointError, match="not a model architecture"):
        load_any_upscaler(path)
    weird = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], weird)
    with pytest.raises(CheckpointError, match="state dict"):
        load_any_upscaler(weird)
    txt = tmp_path / "model.onnx"
    txt.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unsupported model file type"):
        load_any_upscaler(txt)


def test_own_format_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_sr_model("rrdb", 4, features=8, blocks=1, growth=4, layers=2).eval()
    path = save_upscaler(net, tmp_path / "mine.safetensors", {"trained_on": "tests", "steps": 3})
    up = load_upscaler(path)
    assert (up.arch, up.scale, up.in_channels) == ("rrdb", 4, 3)
    assert up.info["trained_on"] == "tests" and up.info["kwargs"] == net.config()
    assert up.context == net.context
    x = torch.rand(1, 3, 9, 7)
    assert torch.equal(run(up, x), run(net, x))
    assert load_any_upscaler(str(path)).arch == "rrdb"   # by path too


def test_own_format_rejects_mismatched_weights(tmp_path: Path) -> None:
    net = build_sr_model("compact", 2, features=8, blocks=1)
    path = save_upscaler(net, tmp_path / "m.safetensors")
    other = tmp_path / "other.safetensors"
    meta = {"ganstudio": '{"format": "ganstudio-upscaler", "arch": "compact", "scale": 2, "channels": 3, '
                         '"kwargs": {"features": 16, "blocks": 1}}'}
    from safetensors.torch import load_file

    save_file(load_file(str(path)), str(other), metadata=meta)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_any_upscaler(other)
    with pytest.raises(CheckpointError, match="not a GAN Studio upscaler"):
        spandrel_file = tmp_path / "s.safetensors"
        save_file(spandrel_compact().state_dict(), str(spandrel_file))
        load_upscaler(spandrel_file)


def test_names_bundled_and_baselines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_any_upscaler("bicubic").scale == 2
    assert load_any_upscaler("bicubic", scale=4).scale == 4
    up = load_any_upscaler("lanczos-x4")
    assert (up.resample, up.scale, up.module) == ("lanczos", 4, None)

    monkeypatch.setenv(community.RESOURCES_ENV, str(tmp_path / "res"))
    with pytest.raises(CheckpointError, match="bundled model bundled-x2 is missing"):
        load_any_upscaler("bundled-x2")
    bundled = tmp_path / "res" / "models" / "upscale-x2.safetensors"
    save_upscaler(build_sr_model("compact", 2, features=8, blocks=1), bundled)
    up = load_any_upscaler("bundled-x2")
    assert up.name == "bundled-x2" and up.scale == 2
    assert community.available_bundled() == ["bundled-x2"]
    with pytest.raises(CheckpointError, match="neither a model file"):
        load_any_upscaler(tmp_path / "nothing-here.pth")
