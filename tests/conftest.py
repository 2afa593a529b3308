"""Shared fixtures: tiny synthetic image folders made in tmp_path."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def make_images(folder, n: int = 24, size: tuple[int, int] = (20, 18), seed: int = 0, mode: str = "RGB"):
    """``n`` small random-blob images (varied sizes around ``size``) written as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = size[0] + int(rng.integers(0, 6)), size[1] + int(rng.integers(0, 6))
        base = rng.integers(0, 255, size=3)
        arr = np.clip(base + rng.normal(0, 30, size=(h, w, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, "RGB").convert(mode)
        p = folder / f"img{i:03d}.png"
        im.save(p)
        paths.append(p)
    return paths


@pytest.fixture
def image_folder(tmp_path):
    d = tmp_path / "images"
    make_images(d)
    return d
