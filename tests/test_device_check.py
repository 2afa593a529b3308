"""scripts/device_check.py, the one command a session lent a GPU runs: it must work when that day
comes, so its CPU smoke run is checked here, and a failing check must be reported, not end it."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_check.py"


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("device_check", None)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_upscale_checks_pass_on_the_cpu_and_print_one_table(device_check, tmp_path, capsys, one_thread):
    code = device_check.main(["run", "--device", "cpu", "--quick", "--only", "upscaler", "upscale",
                              "--keep", str(tmp_path / "work")])
    out = capsys.readouterr().out
    table = out[out.index("\ncheck "):]
    assert code == 0, table
    for check in ("upscaler: x2 trains and validates", "upscale bundled-x2: device fp32 = CPU fp32",
                  "upscale bundled-x4: tiled = whole", "upscale x4 256px speed", "upscale x2 512px"):
        assert check in table
    assert "FAIL" not in table and table.count("PASS") == 8
    assert (tmp_path / "work" / "upscaler" / "checkpoints").is_dir()   # --keep keeps the runs


def test_a_failing_check_becomes_a_row_and_the_others_still_run(device_check, tmp_path, capsys):
    checks = device_check.Checks(torch.device("cpu"), True, tmp_path)

    def broken():
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    checks.run("first", broken)
    checks.run("second", lambda: [device_check.Row("second: works", "PASS", "fine")])
    assert checks.failed
    table = checks.table()
    assert "first  " in table and "FAIL" in table and "RuntimeError: CUDA error" in table
    assert "second: works" in table.splitlines()[-1] and "PASS" in table.splitlines()[-1]


def test_differences_are_counted_in_8_bit_levels(device_check):
    a = device_check._test_picture(8, 10)
    b = a.copy()
    b[3, 4, 1] = min(255, int(b[3, 4, 1]) + 3) if b[3, 4, 1] < 250 else b[3, 4, 1] - 3
    assert device_check._max_level_diff(a, a) == 0 and device_check._max_level_diff(a, b) == 3
    with pytest.raises(AssertionError, match="shapes differ"):
        device_check._max_level_diff(a, a[:4])
