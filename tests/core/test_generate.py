import numpy as np
import pytest
from PIL import Image

from ganstudio.core.config import TrainConfig
from ganstudio.core.errors import ExportError
from ganstudio.core.export import read_png_metadata, save_png
from ganstudio.core.gan import GanOptions
from ganstudio.core.generate import (export_gif, export_grid, export_images, generate_seeds, interpolate,
                                     load_generator, reproduce_from_png)
from ganstudio.core.trainer import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import make_images

    root = tmp_path_factory.mktemp("gen")
    make_images(root / "imgs", n=12)
    cfg = TrainConfig(steps=3, batch_size=4, log_every=1, sample_every=10, checkpoint_every=10, precision="fp32", threads=1)
    train(cfg, GanOptions(str(root / "imgs"), "seed-dcgan-16"), root / "run")
    return root / "run"


def test_seeds_reproduce_independently_of_the_batch(trained_run):
    gen = load_generator(trained_run)
    a = generate_seeds(gen, [5, 6, 7])
    b = generate_seeds(gen, [7])
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[2], b[0])
    assert not np.array_equal(a[0], a[1])


def test_truncation_reduces_variety(trained_run):
    gen = load_generator(trained_run)
    seeds = list(range(32))
    full = generate_seeds(gen, seeds, 1.0).astype(float).std(axis=0).mean()
    low = generate_seeds(gen, seeds, 0.2).astype(float).std(axis=0).mean()
    assert low < full


def test_png_provenance_round_trip_reproduces_the_image(trained_run, tmp_path):
    gen = load_generator(trained_run)
    [path] = export_images(gen, [42], tmp_path, truncation=0.7)
    meta = read_png_metadata(path)
    assert meta["seed"] == "42" and meta["truncation"] == "0.7" and meta["model_sha256"] == gen.sha256
    assert meta["app"].startswith("GAN Studio") and meta["step"] == str(gen.step)
    image, _, _ = reproduce_from_png(path, trained_run)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)


def test_export_never_overwrites_unless_asked(trained_run, tmp_path):
    gen = load_generator(trained_run)
    first = export_images(gen, [1], tmp_path)[0]
    second = export_images(gen, [1], tmp_path)[0]
    assert first != second and second.name == "seed-00001-1.png"
    with pytest.raises(ExportError, match="already exists"):
        save_png(np.zeros((4, 4, 3), np.uint8), first)
    save_png(np.zeros((4, 4, 3), np.uint8), first, overwrite=True)
    assert np.asarray(Image.open(first)).max() == 0


def test_grid_interpolation_and_gif(trained_run, tmp_path):
    gen = load_generator(trained_run)
    grid = export_grid(gen, list(range(9)), tmp_path / "grid.png", nrow=3)
    assert Image.open(grid).size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)
    frames = interpolate(gen, 1, 2, 5)
    np.testing.assert_array_equal(frames[0], generate_seeds(gen, [1])[0])
    np.testing.assert_array_equal(frames[-1], generate_seeds(gen, [2])[0])
    gif = export_gif(frames, tmp_path / "walk.gif")
    im = Image.open(gif)
    assert im.n_frames == 8  # 5 forward + 3 back


def test_atomic_write_leaves_no_partial_file_on_a_full_disk(tmp_path, monkeypatch):
    import os

    from ganstudio.core import export

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", full)
    with pytest.raises(ExportError, match="No space left"):
        save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png")
    assert os.listdir(tmp_path) == []


def test_exported_files_get_normal_permissions(tmp_path):
    import os
    import stat

    from ganstudio.core.export import FILE_MODE

    path = save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "a.png")
    assert stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE


def test_gif_speeds_are_what_a_gif_can_store():
    from ganstudio.core.generate import gif_frame_ms

    assert [gif_frame_ms(f) for f in (60, 50, 40, 12, 1)] == [20, 20, 20, 80, 1000]


def test_a_run_with_a_damaged_newest_checkpoint_generates_from_the_one_before(tmp_path):
    from ganstudio.core.config import TrainConfig
    from ganstudio.core.gan import GanOptions
    from ganstudio.core.generate import load_generator
    from ganstudio.core.trainer import train
    from tests.conftest import make_images

    make_images(tmp_path / "imgs", n=8)
    train(TrainConfig(steps=4, batch_size=4, threads=1, precision="fp32", checkpoint_every=2),
          GanOptions(str(tmp_path / "imgs"), "seed-dcgan-16"), tmp_path / "run")
    newest = tmp_path / "run" / "checkpoints" / "step-00000004.safetensors"
    newest.write_bytes(newest.read_bytes()[:2000])
    assert load_generator(tmp_path / "run").step == 2
