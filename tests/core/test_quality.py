import numpy as np

from ganstudio.core.quality import sliced_wasserstein


def test_swd_is_small_for_the_same_distribution_and_large_for_noise():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]

    def smooth(n):
        phase = rng.uniform(0, 6, size=(n, 1, 1, 1))
        return (127 + 100 * np.sin(xx[None, ..., None] / 3 + phase)).repeat(3, -1).astype(np.uint8)

    a, b = smooth(64), smooth(64)
    noise = rng.integers(0, 255, size=(64, 16, 16, 3), dtype=np.uint8)
    assert sliced_wasserstein(a, b) < 0.25 * sliced_wasserstein(a, noise)
