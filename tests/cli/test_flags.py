"""One flag name per setting across commands, old names kept, and argparse's own mistakes said in one line."""
from __future__ import annotations

import argparse

import pytest

from ganstudio.cli import FLAG_ALIASES, build_parser, main

#: the preferred flag of each shared setting, per training command
SHARED = {
    "train": ["--flip", "--color", "--width"],
    "train-upscaler": ["--flip", "--width", "--d-width", "--blocks"],
    "train-translate": ["--flip", "--color", "--width", "--d-width", "--blocks"],
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by name ("dataset check" included)."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return found


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", sorted(SHARED))
def test_training_commands_show_one_name_per_shared_setting_and_list_the_old_ones(command, capsys):
    text = _help(command, capsys)
    usage = text[:text.index("options:")]
    for flag in SHARED[command]:
        assert f"[{flag} " in usage, (command, flag)
    for old in ("--hflip", "--augment", "--features", "--ngf", "--d-features", "--ndf", "--n-blocks", "--channels"):
        assert f"[{old} " not in usage and f"[{old}]" not in usage, (command, old)   # hidden from the usage line
    expected_also = {"train": ["also: --hflip", "also: --channels"],
                     "train-upscaler": ["also: --augment", "also: --features", "also: --d-features"],
                     "train-translate": ["also: --channels", "also: --ngf", "also: --ndf", "also: --n-blocks"]}
    for also in expected_also[command]:
        assert also in text, (command, also)


@pytest.mark.parametrize("command,old,new", [
    ("train", ["--hflip", "--channels", "grey"], ["--flip", "--color", "grey"]),
    ("train", ["--hflip", "--no-hflip", "--channels", "rgb"], ["--no-flip", "--color", "rgb"]),   # the last one counts
    ("train-upscaler", ["--no-augment", "--features", "8", "--d-features", "16"],
     ["--no-flip", "--width", "8", "--d-width", "16"]),
    ("train-translate", ["--no-flip", "--channels", "grey", "--ngf", "4", "--ndf", "8", "--n-blocks", "2"],
     ["--no-flip", "--color", "grey", "--width", "4", "--d-width", "8", "--blocks", "2"]),
])
def test_old_names_give_the_same_options_as_the_preferred_ones(tmp_path, command, old, new):
    from ganstudio.core.translate.cli_commands import translate_options_from_args
    from ganstudio.core.upscale.cli_commands import upscale_options_from_args
    from ganstudio.cli import dataclass_from_args
    from ganstudio.core.gan import GanOptions

    data = {"train-translate": ["--paired", str(tmp_path), str(tmp_path)]}.get(command, [str(tmp_path)])
    options = {"train": lambda a: dataclass_from_args(GanOptions, a, data="x"),
               "train-upscaler": upscale_options_from_args, "train-translate": translate_options_from_args}[command]
    parse = build_parser().parse_args
    with_old = options(parse([command, *data, "--out", "r", *old]))
    with_new = options(parse([command, *data, "--out", "r", *new]))
    assert with_old == with_new
    default = options(parse([command, *data, "--out", "r"]))
    assert with_new != default                                   # the flags did set something


def test_every_alias_entry_names_a_real_field_and_no_flag_twice():
    import dataclasses

    from ganstudio.core.gan import GanOptions
    from ganstudio.core.translate.task import TranslateOptions
    from ganstudio.core.upscale.task import UpscaleOptions

    classes = {c.__name__: c for c in (GanOptions, UpscaleOptions, TranslateOptions)}
    for (cls, field), names in FLAG_ALIASES.items():
        assert field in {f.name for f in dataclasses.fields(classes[cls])}, (cls, field)
        assert len(set(names)) == len(names)
    # a preferred name means one setting: the same name is never preferred for two different ones
    preferred = {}
    for (cls, field), names in FLAG_ALIASES.items():
        preferred.setdefault(names[0], set()).update(n for n in names[1:])
    assert not set(preferred) & {n for olds in preferred.values() for n in olds}


@pytest.mark.parametrize("argv,words", [
    (["train-upscaler", "{tmp}", "--out", "{tmp}/r", "--ngf", "8"], "did you mean --width?"),
    (["train-translate", "--paired", "{tmp}", "{tmp}", "--out", "{tmp}/r", "--hflip"], "did you mean --flip?"),
    (["train", "{tmp}", "--out", "{tmp}/r", "--no-augment"], "did you mean --no-flip?"),
    (["train", "{tmp}", "--out", "{tmp}/r", "--stpes", "3"], "did you mean --steps?"),
    (["upscale", "{tmp}", "--out", "{tmp}/o", "--overwrite", "--skip-existing"], "not allowed with argument"),
    (["generate", "{tmp}"], "the following arguments are required: --out"),
    (["translate", "{tmp}", "--model", "m", "--out", "o", "--direction", "up"], "invalid choice"),
])
def test_command_line_mistakes_are_one_line_naming_the_help(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main([a.format(tmp=tmp_path) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith("error: ") and f"(see ganstudio-cli {argv[0]} --help)" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()


def test_every_option_of_every_command_says_what_it_does():
    for name, parser in _commands().items():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, (name, action.option_strings or action.dest)


def test_device_and_threads_read_the_same_everywhere():
    commands = _commands()
    for name, parser in commands.items():
        by_flag = {s: a for a in parser._actions for s in a.option_strings}
        if "--device" in by_flag:
            assert "cuda:N" in by_flag["--device"].help, name
    for name in ("train", "train-upscaler", "train-translate", "generate", "upscale", "translate", "resume"):
        flags = {s for a in commands[name]._actions for s in a.option_strings}
        assert {"--device", "--threads"} <= flags, name


def test_inference_commands_take_a_thread_count(tmp_path, capsys):
    import numpy as np
    import torch
    from PIL import Image

    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "a.png")
    before = torch.get_num_threads()
    try:
        assert main(["upscale", str(tmp_path / "a.png"), "--model", "bicubic", "--out", str(tmp_path / "o"),
                     "--quiet", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    assert main(["upscale", str(tmp_path / "a.png"), "--model", "bicubic", "--out", str(tmp_path / "o2"),
                 "--quiet", "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert "threads must be 0" in err and err.count("\n") == 1
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("flag", ["--channels", "--color"])
def test_train_upscaler_says_it_has_no_colour_setting(tmp_path, capsys, flag):
    # --channels used to be read as an abbreviation of --channels-last, and the error named "grey"
    with pytest.raises(SystemExit) as exit_:
        main(["train-upscaler", str(tmp_path), "--out", str(tmp_path / "run"), flag, "grey"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag}: upscalers have no colour setting") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
