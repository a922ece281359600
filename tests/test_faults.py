"""Faults during a run: signals keep the best picture and a checkpoint, --resume continues,
NaN losses are recovered from once and stop the run the second time."""

import math
import os
import signal
import subprocess
import sys

import pytest
import torch
from PIL import Image
from procs import interactive, wait_for

from brushwork import Config, checkpoint, images, objective, stylize_iter
from brushwork.cli import main

SMALL = ["--size", "32", "--device", "cpu"]


def _start(tubingen, starry, out, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brushwork",
            "paint",
            str(tubingen),
            str(starry),
            "-o",
            str(out),
            *SMALL,
            "--save-every",
            "1",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interactive,
    )


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_writes_best_picture_and_checkpoint_then_resume_goes_lower(tubingen, starry, tmp_path, sig, code, word):
    out = tmp_path / "run.png"
    proc = _start(tubingen, starry, out, "--iterations", "100000")
    wait_for(tmp_path / "run_3.png", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == code, err
    assert f"brushwork: {word}; wrote the best picture so far" in err and "Traceback" not in err
    assert Image.open(out).size == (32, 24)
    stopped = images.read_params(out)
    ckpt = tmp_path / "run.png.ckpt"
    state = checkpoint.load(ckpt)
    assert state["step"] >= 3 and state["best"].shape == (1, 3, 24, 32)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
    if sig == signal.SIGTERM:
        return
    steps = state["step"] + 30
    # iterations is part of the config; a different value is refused ...
    assert (
        main(
            [
                "paint",
                str(tubingen),
                str(starry),
                "-o",
                str(out),
                *SMALL,
                "--iterations",
                str(steps),
                "--resume",
                str(ckpt),
                "-q",
            ]
        )
        == 2
    )
    # ... so resume with the interrupted run's own options, and stop it again after 30 more steps.
    proc = _start(tubingen, starry, out, "--iterations", "100000", "--resume", str(ckpt))
    wait_for(tmp_path / f"run_{state['step'] + 30}.png", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    resumed = images.read_params(out)
    assert resumed["step"] >= state["step"] + 30
    assert resumed["losses"]["total"] < stopped["losses"]["total"]


def test_resume_refuses_other_pictures_and_bad_files(tubingen, starry, tmp_path, capsys):
    cfg = Config(size=32, iterations=3, device="cpu")
    painting = stylize_iter(tubingen, [starry], cfg)
    for _ in painting:
        pass
    path = checkpoint.save(painting.checkpoint(), tmp_path / "c.ckpt")
    with pytest.raises(checkpoint.CheckpointError, match="other content picture"):
        stylize_iter(starry, [starry], cfg, resume=checkpoint.load(path))
    with pytest.raises(checkpoint.CheckpointError, match="--style-weight 10.0"):
        stylize_iter(tubingen, [starry], cfg.replace(style_weight=3.0), resume=checkpoint.load(path))
    with pytest.raises(checkpoint.CheckpointError, match=r"--tolerance 0.005 \(now 0.0\)"):
        stylize_iter(tubingen, [starry], cfg.replace(tolerance=0.0), resume=checkpoint.load(path))
    same = cfg.replace(style_weight=10.0, tolerance=0.005)  # the defaults in effect, given by hand
    stylize_iter(tubingen, [starry], same, resume=checkpoint.load(path))  # accepted: the same run
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    assert (
        main(["paint", str(tubingen), str(starry), "-o", str(tmp_path / "o.png"), *SMALL, "--resume", str(junk)]) == 2
    )
    err = capsys.readouterr().err
    assert "junk.ckpt: not a brushwork checkpoint" in err and len(err.strip().splitlines()) == 1


def _nan_at(monkeypatch, bad_calls):
    """Make the objective's gradient NaN on the given calls (1-based)."""
    calls = []
    real = objective.Objective.backward

    def backward(self, x):
        J, terms = real(self, x)
        calls.append(1)
        if len(calls) in bad_calls:
            x.grad.fill_(math.nan)
            J = J * math.nan
        return J, terms

    monkeypatch.setattr(objective.Objective, "backward", backward)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_nan_step_goes_back_to_the_best_picture_and_the_run_finishes(tubingen, starry, monkeypatch, optimizer):
    _nan_at(monkeypatch, {6})
    events = list(stylize_iter(tubingen, [starry], Config(size=32, iterations=12, optimizer=optimizer, device="cpu")))
    assert [e.step for e in events if e.recovered] == [6]
    assert len(events) == 12 and torch.isfinite(events[-1].image).all()
    assert all(math.isfinite(v) for e in events for v in e.losses.values())
    # The run keeps improving after the recovery: some later step beats the best picture it went back
    # to (not necessarily the last: L-BFGS's steps may rise on the way down).
    assert min(e.losses["total"] for e in events[6:]) < events[5].losses["total"]


def test_a_second_nan_stops_with_the_best_picture_written(tubingen, starry, monkeypatch, tmp_path, capsys):
    _nan_at(monkeypatch, {4, 7})
    out = tmp_path / "o.png"
    code = main(["paint", str(tubingen), str(starry), "-o", str(out), *SMALL, "--iterations", "20", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "became NaN or infinite again at step 7" in err and "Traceback" not in err
    assert torch.isfinite(images.load(out)).all()
    assert checkpoint.load(tmp_path / "o.png.ckpt")["step"] == 6  # the steps done


def test_running_out_of_memory_names_the_size(tubingen, starry, monkeypatch, capsys, tmp_path):
    def oom(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(objective.Objective, "backward", oom)
    code = main(["paint", str(tubingen), str(starry), "-o", str(tmp_path / "o.png"), *SMALL, "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "out of memory painting 32×24 px on cpu" in err and "--tile-size" in err


def test_resume_in_a_later_scale_continues_with_the_right_steps(tubingen, starry):
    cfg = Config(size=64, start_size=32, iterations=6, coarse_iterations=6, device="cpu")
    first = stylize_iter(tubingen, [starry], cfg)
    for event in first:
        if event.step == 8:  # two steps into the 64 px scale
            break
    state = first.checkpoint()
    assert (state["scale"], state["scale_step"], state["step"]) == (1, 2, 8)
    rest = list(stylize_iter(tubingen, [starry], cfg, resume=state))
    assert [e.step for e in rest] == [9, 10, 11, 12]
    assert {e.scale for e in rest} == {1} and rest[-1].image.shape[-1] == 64
    assert rest[-1].losses["total"] <= event.losses["total"]


def test_after_ctrl_c_inside_a_step_the_same_painting_goes_on(tubingen, starry, monkeypatch):
    calls = []
    real = objective.Objective.backward

    def backward(self, x):
        calls.append(1)
        if len(calls) == 4:  # Ctrl-C arrives inside step 4
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(objective.Objective, "backward", backward)
    painting = stylize_iter(tubingen, [starry], Config(size=32, iterations=8, device="cpu"))
    first = []
    with pytest.raises(KeyboardInterrupt):
        for event in painting:
            first.append(event.step)
    rest = [event for event in painting]  # iterating again continues where it stood, not "finished"
    assert first == [1, 2, 3] and [e.step for e in rest] == [4, 5, 6, 7, 8]
    assert rest[-1].done and rest[-1].image.shape == (1, 3, 24, 32)


def test_stylize_leaves_torchs_random_numbers_alone_and_takes_one_style(tubingen, starry):
    from brushwork import stylize

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    result = stylize(tubingen, str(starry), Config(size=32, iterations=1, device="cpu", init="noise", seed=7))
    assert torch.equal(torch.rand(3), expected)  # the caller's generator is where it was
    assert result.image.shape == (1, 3, 24, 32)
    events = list(stylize_iter(tubingen, str(starry), Config(size=32, iterations=1, device="cpu")))  # a str, not a list
    assert len(events) == 1


def test_a_finished_resumed_run_removes_its_checkpoint(tubingen, starry, tmp_path, capsys):
    cfg = Config(size=32, iterations=6, device="cpu")
    painting = stylize_iter(tubingen, [starry], cfg)
    for event in painting:
        if event.step == 2:
            break
    ckpt = checkpoint.save(painting.checkpoint(), tmp_path / "o.png.ckpt")
    out = tmp_path / "o.png"
    assert (
        main(
            [
                "paint",
                str(tubingen),
                str(starry),
                "-o",
                str(out),
                *SMALL,
                "--iterations",
                "6",
                "-q",
                "--resume",
                str(ckpt),
            ]
        )
        == 0
    )
    assert images.read_params(out)["step"] == 6 and sorted(os.listdir(tmp_path)) == ["o.png"]


def test_a_damaged_checkpoint_is_refused_in_one_line(tubingen, starry, tmp_path, capsys):
    painting = stylize_iter(tubingen, [starry], Config(size=32, iterations=1, device="cpu"))
    list(painting)
    state = painting.checkpoint()
    for broken in (
        {**state, "inputs": {}},
        {k: v for k, v in state.items() if k != "best"},
        {**state, "step": "3"},
        {**state, "config": "[1, 2]"},
    ):
        path = checkpoint.save(broken, tmp_path / "c.ckpt")
        assert (
            main(
                [
                    "paint",
                    str(tubingen),
                    str(starry),
                    "-o",
                    str(tmp_path / "o.png"),
                    *SMALL,
                    "--iterations",
                    "1",
                    "--resume",
                    str(path),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "c.ckpt" in err[0] and ("damaged" in err[0] or "options" in err[0]), err
