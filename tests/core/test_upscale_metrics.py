"""PSNR/SSIM, the evaluation protocol's pieces, and the degradations that make LR inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.upscale.degrade import downscale_uint8, gaussian_blur, make_lr, quantize
from ganstudio.core.upscale.metrics import (
    evaluate_crops,
    protocol_hr,
    psnr,
    split_holdout,
    ssim,
    textured_crops,
)
from ganstudio.core.upscale.tiling import baseline


def noisy(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_psnr_known_values() -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    assert psnr(a, a) == float("inf")
    b = a.copy()
    b[...] = 110                                         # mse = (10/255)^2
    assert psnr(a, b) == pytest.approx(20 * np.log10(255 / 10))
    assert psnr(a.astype(np.float32) / 255, b.astype(np.float32) / 255) == pytest.approx(psnr(a, b), rel=1e-6)
    b[:2] = 0                                            # damage only the border
    assert psnr(a, b, shave=2) == pytest.approx(20 * np.log10(255 / 10))
    t = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    assert psnr(t, a) > 100  # float32 rounding only


def test_ssim_sanity() -> None:
    a = noisy(32, 32)
    assert ssim(a, a) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    slightly = np.clip(a.astype(int) + rng.integers(-5, 6, a.shape), 0, 255).astype(np.uint8)
    very = np.clip(a.astype(int) + rng.integers(-80, 81, a.shape), 0, 255).astype(np.uint8)
    s1, s2 = ssim(a, slightly), ssim(a, very)
    assert 1 > s1 > s2 > 0
    assert ssim(slightly, a) == pytest.approx(s1)
    # constant images: luminance term only ((2*m1*m2 + c1) / (m1^2 + m2^2 + c1))
    c1 = 0.01 ** 2
    m1, m2 = 0.4, 0.5
    flat1, flat2 = np.full((20, 20, 1), m1), np.full((20, 20, 1), m2)
    assert ssim(flat1, flat2) == pytest.approx((2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1))
    with pytest.raises(ValueError):
        ssim(a[:8, :8], a[:8, :8])


def test_textured_crops_find_texture_without_overlap() -> None:
    img = np.full((64, 128, 3), 128, np.uint8)
    img[:, 64:] = noisy(64, 64)
    crops = textured_crops(img, 32, 3)
    assert crops[0][1] >= 64 - 16 and len(crops) == 3
    for i, (y1, x1) in enumerate(crops):
        for y2, x2 in crops[i + 1:]:
            assert abs(y1 - y2) >= 32 or abs(x1 - x2) >= 32
    assert textured_crops(img[:16], 32, 3) == []


def test_split_holdout_is_deterministic_and_spread() -> None:
    names = [f"p{i:02d}.jpg" for i in range(23)]
    train, held = split_holdout(list(reversed(names)), 4)
    assert [p.name for p in held] == ["p02.jpg", "p08.jpg", "p14.jpg", "p20.jpg"]
    assert len(train) == 19 and not set(train) & set(held)
    assert split_holdout(names, 4) == (train, held)
    assert split_holdout(["one.png"], 3) == ([Path("one.png")], [])


def test_evaluate_crops_protocol(tmp_path: Path) -> None:
    photo = np.clip(noisy(160, 200).astype(int) // 2 + 64, 0, 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    hr = protocol_hr(tmp_path / "photo.png")
    assert hr.shape == (80, 100, 3)
    bic = evaluate_crops(baseline("bicubic", 2), [tmp_path / "photo.png"], 2, crop=32, per_image=2)
    assert bic.crops == 2 and bic.psnr == pytest.approx(bic.psnr_bicubic)
    assert bic.psnr_gain == pytest.approx(0)
    lan = evaluate_crops(baseline("lanczos", 2), [hr], 2, crop=32, per_image=2)
    assert np.isfinite(lan.psnr) and 0 < lan.ssim <= 1
    assert set(lan.as_dict()) == {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "crops"}


def test_bicubic_lr_is_quantised_and_sized() -> None:
    hr = torch.rand(2, 3, 33, 40)
    lr = make_lr(hr, 2)
    assert lr.shape == (2, 3, 16, 20)
    assert torch.equal(lr, quantize(lr))
    assert downscale_uint8(noisy(33, 40), 4).shape == (8, 10, 3)


def test_real_degradation_is_seeded() -> None:
    hr = torch.rand(4, 3, 32, 32)
    a = make_lr(hr, 2, "real", torch.Generator().manual_seed(3))
    b = make_lr(hr, 2, "real", torch.Generator().manual_seed(3))
    c = make_lr(hr, 2, "real", torch.Generator().manual_seed(4))
    assert a.shape == (4, 3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    blurred = gaussian_blur(hr, 1.0)
    assert blurred.shape == hr.shape and blurred.std() < hr.std()
