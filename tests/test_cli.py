import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from brushwork import images
from brushwork.cli import main

FAST = ["--size", "32", "--iterations", "3", "--device", "cpu", "-q"]


def test_paint_writes_png_with_parameters_and_info_prints_them(tubingen, starry, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["paint", str(tubingen), str(starry), "-o", str(out), *FAST, "--style-weight", "20"]) == 0
    assert Image.open(out).size == (32, 24)
    params = images.read_params(out)
    assert params["config"]["style_weight"] == 20.0 and params["config"]["size"] == 32
    assert params["styles"] == [str(starry)] and params["step"] == 3
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["iterations"] == 3
    assert info["command"] == (
        f"brushwork paint {tubingen} {starry} -o {out} --size 32 --iterations 3 --style-weight 20.0 --device cpu"
    )
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_save_every_writes_intermediate_images(tubingen, starry, tmp_path):
    out = tmp_path / "o.png"
    assert (
        main(["paint", str(tubingen), str(starry), "-o", str(out), *FAST, "--iterations", "4", "--save-every", "2"])
        == 0
    )
    assert sorted(os.listdir(tmp_path)) == ["o.png", "o_2.png"]


def test_demo_writes_to_a_new_path_it_prints(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tubingen_starry_night.png").write_bytes(b"a user's file")
    assert main(["demo", *FAST]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "tubingen_starry_night-1.png")
    assert (tmp_path / "tubingen_starry_night.png").read_bytes() == b"a user's file"
    assert Image.open(printed).size == (32, 24)


@pytest.mark.parametrize(
    "args, message",
    [
        (["paint", "{missing}", "{style}", "-o", "{out}"], "missing.jpg: no such file"),
        (["paint", "{corrupt}", "{style}", "-o", "{out}"], "corrupt.jpg: truncated or corrupt image"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--content-layer", "relu4_22"], "did you mean relu4_2"),
        (
            ["paint", "{content}", "{style}", "{style}", "-o", "{out}", "--style-blend-weights", "1,2,3"],
            "3 values for 2 style images",
        ),
        (["paint", "{content}", "{style}", "-o", "{out}", "--size", "0"], "--size must be a positive whole number"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--size", "-3"], "--size must be a positive whole number"),
        (["paint", "{content}", "{style}", "-o", "{nodir}"], "does not exist"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--weights", "{missing}"], "weights file not found"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--size", "10"], "at least 16 px"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--iterations", "0"], "--iterations must be a positive"),
        (
            ["paint", "{content}", "{style}", "-o", "{out}", "--style-weight", "-2"],
            "--style-weight must be a number ≥ 0",
        ),
        (["paint", "{content}", "{style}", "-o", "{out}", "--content-weight", "nan"], "--content-weight must be"),
        (
            ["paint", "{content}", "{style}", "-o", "{out}", "--style-mask", "1={mask}"],
            "mask.png: 50×50 px does not have the content's shape",
        ),
        (["paint", "{content}", "{style}", "-o", "{out}", "--style-mask", "3={mask}"], "neither a style number (1–1)"),
        (["paint", "{content}", "{style}", "-o", "{out}", "--resume", "{missing}"], "missing.jpg: no such checkpoint"),
        (
            ["paint", "{content}", "{style}", "-o", "{out}", "--style-mask", "1={missing}"],
            "--style-mask 1: {missing}: no such file",
        ),
        (["paint", "{content}", "{style}", "-o", "{out}", "--init", "{missing}"], "--init: {missing}: no such file"),
        (
            ["paint", "{content}", "{style}", "-o", "{out}", "--style-mask", "1={mask}", "--style-mask", "1={missing}"],
            "style 1 has a mask already",
        ),
        (["paint", "{content}", "{style}", "-o", "{out}", "--weights-format", "caffe"], "--weights-format caffe: "),
        (
            ["paint", "{content}", "{style}", "-o", "{out}", "--scales", "0,64"],
            "--scales must be a list of positive whole numbers, not 0,64",
        ),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(args, message, tubingen, starry, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(open(tubingen, "rb").read()[:2000])
    out = tmp_path / "out.png"
    out.write_bytes(b"earlier result")
    Image.new("L", (50, 50), 255).save(tmp_path / "mask.png")
    names = dict(
        mask=tmp_path / "mask.png",
        missing=tmp_path / "missing.jpg",
        corrupt=corrupt,
        content=tubingen,
        style=starry,
        out=out,
        nodir=tmp_path / "no" / "o.png",
    )
    code = main(
        [a.format(**names) for a in args]
        + ["-q", "--device", "cpu"]
        + ([] if "--iterations" in args else ["--iterations", "1"])
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("brushwork: error: ") and message.format(**names) in err[0], err
    assert out.read_bytes() == b"earlier result"
    assert sorted(os.listdir(tmp_path)) == ["corrupt.jpg", "mask.png", "out.png"]


def test_bad_flag_value_exits_2(capsys):
    assert main(["paint", "c.jpg", "s.jpg", "-o", "o.png", "--size", "big"]) == 2
    assert capsys.readouterr().err == "brushwork: error: --size must be a whole number, not 'big'\n"


@pytest.mark.parametrize(
    "args",
    [
        ["paint", "c.jpg", "s.jpg", "-o", "o.png", "--bogus"],
        ["paint", "c.jpg", "s.jpg"],
        ["batch", "x", "--style", "s", "-o", "o", "--workers", "x"],
    ],
)
def test_a_bad_flag_says_so_in_one_line_without_the_usage(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 1 and "error: " in err[0] and "--help" in err[0], err


def test_help_names_the_checkpoint_as_it_is_written(capsys):
    with pytest.raises(SystemExit):
        main(["paint", "--help"])
    assert "OUT.png.ckpt" in capsys.readouterr().out


def test_an_output_never_replaces_an_input(tubingen, starry, tmp_path, capsys):
    mine = tmp_path / "mine.jpg"
    mine.write_bytes(open(tubingen, "rb").read())
    Image.new("L", (40, 30), 255).save(tmp_path / "mask.png")
    for args, what in [
        ([mine, starry, "-o", mine], "the content picture"),
        ([tubingen, mine, "-o", mine], "a style image"),
        (
            [tubingen, starry, "-o", tmp_path / "mask.png", "--style-mask", f"1={tmp_path / 'mask.png'}"],
            "a --style-mask",
        ),
        ([tubingen, starry, "-o", mine, "--init", mine], "the --init picture"),
    ]:
        assert main(["paint", *map(str, args), *FAST]) == 2
        err = capsys.readouterr().err
        assert f"is {what}" in err and "give another output" in err, err
    assert mine.read_bytes() == open(tubingen, "rb").read()


@pytest.mark.parametrize("text", ["not json", "{}", "[1,2]", '{"config": {"seed": 1.5}}', '{"config": {"colour": 1}}'])
def test_info_on_a_crafted_png_says_so_in_one_line(text, tmp_path, capsys):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("brushwork", text)
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png", pnginfo=info)
    assert main(["info", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"brushwork: error: {tmp_path / 'x.png'}: "), err


def test_python_dash_m_and_version():
    r = subprocess.run([sys.executable, "-m", "brushwork", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("brushwork ")


def test_the_progress_bar_ends_full_when_scales_converge_early(tubingen, starry, tmp_path, capsys):
    # Tolerance 1: each scale ends once it has 10 steps to compare, 11 of its 40; the bar's total
    # shrinks with it, so it ends at 22/22, not at 22/80.
    out = tmp_path / "o.png"
    assert (
        main(
            [
                "paint",
                str(tubingen),
                str(starry),
                "-o",
                str(out),
                "--size",
                "64",
                "--start-size",
                "32",
                "--iterations",
                "40",
                "--coarse-iterations",
                "40",
                "--tolerance",
                "1",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err.replace("\r", "\n")
    bars = [line for line in err.splitlines() if "step/s" in line or "s/step" in line]
    shown = " ".join(bars)
    assert "/80 " in shown and "/51 " in shown  # the total shrinks when the first scale converges
    assert "100%" in bars[-1] and "22/22 " in bars[-1]  # and the bar ends full
    assert images.read_params(out)["step"] == 22


def test_one_table_gives_each_error_its_message_and_exit_status():
    from brushwork import ConfigError, ImageError, WeightsError
    from brushwork.cli.common import HANDLED, Terminated, outcome
    from brushwork.devices import DeviceError
    from brushwork.engine import DivergedError, OutOfMemory
    from brushwork.video import VideoError
    from brushwork.writing import CannotWrite

    assert outcome(Terminated()) == ("terminated", 143)  # SIGTERM: the subclass wins over Ctrl-C's row
    assert outcome(KeyboardInterrupt()) == ("interrupted", 130)
    for usage in (ConfigError("c"), ImageError("i"), WeightsError("w"), DeviceError("d"), VideoError("v")):
        assert outcome(usage) == (f"error: {usage}", 2)
    for failure in (OutOfMemory("o"), DivergedError("n"), CannotWrite("out.png", OSError(28, "No space left"))):
        assert outcome(failure) == (f"error: {failure}", 1)
    assert not isinstance(ValueError("a bug"), HANDLED)  # a bug is not dressed up as a usage error


def test_progress_lines_go_to_stderr_with_the_bar_or_without(capsys):
    from brushwork.cli.common import Bar

    for quiet in (True, False):
        with Bar(2, "picture", quiet) as bar:
            bar.say("done    a.jpg -> out/a.png")
            bar.advance()
            bar.show(1, 2, {"px": 32})
        out, err = capsys.readouterr()
        assert out == "" and "done    a.jpg -> out/a.png\n" in err
        assert ("1/2" in err) is not quiet  # the bar itself only when not quiet
