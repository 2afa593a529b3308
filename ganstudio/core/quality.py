"""Sample-quality measures that need no downloaded network.

``sliced_wasserstein`` compares the distributions of small patches of real and generated images
(after Karras et al.'s SWD): random 1-D projections of normalised patch vectors, sorted and
compared. Lower is better; 0 means identical patch statistics. It is a coarse but honest check
that works offline (FID needs an Inception network that GAN Studio never downloads).
"""
from __future__ import annotations

import numpy as np


def _patches(images: np.ndarray, patch: int, per_image: int, rng: np.random.Generator) -> np.ndarray:
    n, h, w, c = images.shape
    ys = rng.integers(0, h - patch + 1, size=(n, per_image))
    xs = rng.integers(0, w - patch + 1, size=(n, per_image))
    out = np.empty((n * per_image, patch * patch * c), np.float32)
    k = 0
    for i in range(n):
        for y, x in zip(ys[i], xs[i]):
            out[k] = images[i, y:y + patch, x:x + patch].reshape(-1)
            k += 1
    out = out / 127.5 - 1.0
    # per-patch normalisation: compare texture and structure rather than overall brightness
    out -= out.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True) + 1e-6
    return out


def sliced_wasserstein(real: np.ndarray, fake: np.ndarray, *, patch: int = 7, per_image: int = 64,
                       projections: int = 256, seed: int = 0) -> float:
    """SWD between uint8 image sets [N,H,W,C] (equal N recommended), times 1000 for readability."""
    if real.ndim != 4 or fake.ndim != 4 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"image sets must have the same [H,W,C]: {real.shape} vs {fake.shape}")
    rng = np.random.default_rng(seed)
    a = _patches(real, patch, per_image, rng)
    b = _patches(fake, patch, per_image, rng)
    m = min(len(a), len(b))
    a, b = a[rng.permutation(len(a))[:m]], b[rng.permutation(len(b))[:m]]
    dirs = rng.normal(size=(a.shape[1], projections)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean() * 1000)
