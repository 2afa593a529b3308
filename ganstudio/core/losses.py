"""GAN losses on raw discriminator scores (logits).

- ``bce``: the non-saturating loss of Goodfellow et al. as BCE-with-logits. G maximises log D(G(z))
  instead of minimising log(1 - D(G(z))), which has vanishing gradients when D wins early.
- ``lsgan``: least squares (MSE) against targets 1 (real) and 0 (fake), as in the primer's MSE loss.
- ``hinge``: D: relu(1 - real) + relu(1 + fake); G: -fake.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ConfigError

LOSSES = ("bce", "lsgan", "hinge")


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise ConfigError(f"Invalid loss {name!r}. Only {', '.join(LOSSES)} are supported.")
    return name


def d_loss(name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from its scores on real and generated images (computed in fp32)."""
    real, fake = real.float(), fake.float()
    if name == "bce":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if name == "lsgan":
        return 0.5 * (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake)))
    if name == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ConfigError(f"Invalid loss {name!r}. Only {', '.join(LOSSES)} are supported.")


def g_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's scores on generated images (computed in fp32)."""
    fake = fake.float()
    if name == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if name == "lsgan":
        return 0.5 * F.mse_loss(fake, torch.ones_like(fake))
    if name == "hinge":
        return -fake.mean()
    raise ConfigError(f"Invalid loss {name!r}. Only {', '.join(LOSSES)} are supported.")


def d_probability(name: str, scores: torch.Tensor) -> torch.Tensor:
    """Mean 'how real' D thinks the images are, in [0, 1] for every loss (for the D(x), D(G(z)) chart)."""
    scores = scores.float()
    if name == "lsgan":
        return scores.clamp(0, 1).mean()
    return torch.sigmoid(scores).mean()
