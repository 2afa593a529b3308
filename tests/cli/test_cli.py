"""The CLI end to end on a tiny folder, in-process (argv in, files and exit codes out)."""
import pytest
from PIL import Image

from ganstudio.cli import main
from ganstudio.core.export import read_png_metadata


def test_dataset_check_reports_problems(image_folder, capsys):
    (image_folder / "broken.png").write_bytes(b"not an image at all")
    assert main(["dataset", "check", str(image_folder)]) == 0
    out = capsys.readouterr().out
    assert "24" in out and "broken.png" in out


def test_resume_after_the_images_moved_says_so_and_takes_their_new_place(tmp_path, image_folder, capsys):
    import shutil

    data = tmp_path / "pics"
    shutil.copytree(image_folder, data)
    run = tmp_path / "run"
    assert main(["train", str(data), "--preset", "seed-dcgan-16", "--steps", "2", "--batch-size", "4",
                 "--out", str(run), "--quiet", "--threads", "1"]) == 0
    moved = data.rename(tmp_path / "pics-moved")
    capsys.readouterr()
    assert main(["resume", str(run), "--steps", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "not there any more" in err and "--data" in err
    assert main(["resume", str(run), "--steps", "3", "--quiet", "--data", str(moved), str(moved)]) == 2
    assert "give 1 with --data" in capsys.readouterr().err
    assert main(["resume", str(run), "--steps", "3", "--quiet", "--data", str(moved)]) == 0


def test_train_resume_generate(tmp_path, image_folder, capsys):
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--preset", "seed-dcgan-16", "--steps", "4", "--batch-size", "4",
                 "--out", str(run), "--quiet", "--threads", "1", "--checkpoint-every", "2", "--no-ema"]) == 0
    assert (run / "checkpoints").is_dir() and (run / "metrics.jsonl").is_file()
    assert main(["resume", str(run), "--steps", "6", "--quiet", "--threads", "1", "--device", "cpu"]) == 0
    out = tmp_path / "out"
    assert main(["generate", str(run), "--n", "3", "--seed", "10", "--out", str(out)]) == 0
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == ["seed-00010.png", "seed-00011.png", "seed-00012.png"]
    assert read_png_metadata(files[0])["step"] == "6"
    assert main(["generate", str(run), "--n", "4", "--grid", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--n", "4", "--grid", "--out", str(out)]) == 2        # it is there now
    assert capsys.readouterr().err.rstrip().endswith("already exists; choose another name, or --overwrite replaces it.")
    assert main(["generate", str(run), "--interpolate", "1", "2", "--frames", "4", "--out", str(out / "walk")]) == 0
    assert Image.open(out / "walk" / "interpolation-1-2.gif").n_frames >= 4
    assert sorted(p.name for p in (out / "walk" / "interpolation-1-2").iterdir()) == [
        "frame-0000.png", "frame-0001.png", "frame-0002.png", "frame-0003.png"]
    # a second interpolation into the same folder keeps its frames apart from the first's
    assert main(["generate", str(run), "--interpolate", "2", "5", "--frames", "3", "--out", str(out / "walk")]) == 0
    assert len(list((out / "walk" / "interpolation-2-5").glob("frame-*.png"))) == 3
    assert len(list((out / "walk" / "interpolation-1-2").glob("frame-*.png"))) == 4


@pytest.mark.parametrize("argv,needle", [
    (["train", "{missing}", "--out", "{tmp}/r", "--steps", "2"], "does not exist"),
    (["train", "{tmp}", "--preset", "nope", "--out", "{tmp}/r"], "Invalid preset"),
    (["generate", "{tmp}/nothing", "--out", "{tmp}/o"], "neither a run folder nor a checkpoint"),
    (["resume", "{tmp}"], "not a GAN Studio run folder"),
])
def test_user_errors_are_one_line_without_traceback(tmp_path, capsys, argv, needle):
    argv = [a.format(tmp=tmp_path, missing=tmp_path / "missing") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and err.count("\n") == 1


def test_empty_folder_says_what_was_found(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "No usable images" in err and "Traceback" not in err


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_cleanly_with_a_checkpoint(tmp_path, image_folder, signame):
    """A real SIGINT (Ctrl-C) or SIGTERM (``kill``, ``timeout``, a logout) to a real process: exit 130, a
    readable checkpoint of the step it stopped at, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ganstudio.core.checkpoint import latest_checkpoint, read_checkpoint

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ganstudio.cli", "train", str(image_folder), "--preset", "seed-dcgan-16",
                             "--steps", "100000", "--batch-size", "4", "--threads", "1", "--log-every", "1",
                             "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "saving a checkpoint" in err
    ckpt = latest_checkpoint(run)
    assert ckpt is not None and read_checkpoint(ckpt).step > 0


def test_time_limited_run_prints_advice_beside_its_progress_bar(tmp_path, image_folder, capsys):
    # a run limited by time has a progress bar without a total; advice printed beside it
    # ("only 24 images") once crashed the CLI (tqdm refuses bool() without a total)
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--preset", "seed-dcgan-16", "--minutes", "0.01", "--batch-size", "4",
                 "--out", str(run), "--threads", "1", "--log-every", "2"]) == 0
    captured = capsys.readouterr()
    assert "Only 24 images" in captured.out + captured.err and "time-limit" in captured.out + captured.err


def test_dataset_check_of_an_empty_folder_says_why_it_cannot_be_used(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["dataset", "check", str(tmp_path / "empty")]) == 1
    assert "the folder is empty" in capsys.readouterr().out


def test_generate_refuses_counts_and_seeds_it_cannot_honour(tmp_path, image_folder, capsys):
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--preset", "seed-dcgan-16", "--steps", "2", "--batch-size", "4",
                 "--out", str(run), "--quiet", "--threads", "1"]) == 0
    capsys.readouterr()
    for argv, needle in [(["--n", "0"], "at least 1"), (["--seed", "-5"], "from 0 to"),
                         (["--n", "2000", "--grid"], "at most 1024"), (["--seed", str(2**31 - 1), "--n", "2"], "from 0 to"),
                         (["--interpolate", "1", "2", "--grid"], "takes no --n, --seed or --grid")]:
        assert main(["generate", str(run), "--out", str(tmp_path / "o"), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_generate_writes_many_images_in_chunks(tmp_path, image_folder, capsys, monkeypatch):
    import ganstudio.cli as cli

    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--preset", "seed-dcgan-16", "--steps", "2", "--batch-size", "4",
                 "--out", str(run), "--quiet", "--threads", "1"]) == 0
    monkeypatch.setattr(cli, "GENERATE_CHUNK", 4)
    assert main(["generate", str(run), "--n", "10", "--seed", "5", "--out", str(tmp_path / "o")]) == 0
    names = sorted(p.name for p in (tmp_path / "o").glob("*.png"))
    assert names == [f"seed-{s:05d}.png" for s in range(5, 15)]
    capsys.readouterr()
    assert main(["generate", str(run), "--n", "12", "--seed", "5", "--skip-existing",
                 "--out", str(tmp_path / "o")]) == 0
    assert "wrote 2 images" in capsys.readouterr().out          # seeds 15 and 16, in one chunk
    assert len(list((tmp_path / "o").glob("*.png"))) == 12


def test_bad_thread_count_is_an_option_error_not_a_traceback(tmp_path, image_folder, capsys):
    assert main(["train", str(image_folder), "--out", str(tmp_path / "r"), "--steps", "1", "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert "threads must be 0" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_training_help_shows_the_defaults_each_task_really_uses(capsys):
    with pytest.raises(SystemExit):
        main(["train-translate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "images per step (default: 16)" in text         # the translate task's own, not TrainConfig's 64


def test_train_takes_the_flag_names_the_other_commands_use(tmp_path, image_folder):
    from ganstudio.core.trainer import load_run_config

    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--preset", "seed-dcgan-16", "--steps", "1", "--batch-size", "4",
                 "--out", str(run), "--quiet", "--threads", "1", "--flip", "--channels", "grey"]) == 0
    options = load_run_config(run)[1]
    assert options.hflip is True and options.color == "grey"
