"""Batch painting: output names, skipping, failures, and the same pictures in this process, on a
process pool and on a local Dask cluster."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from procs import interactive, wait_for

from brushwork import Config, batch
from brushwork.cli import main
from brushwork.executors import executor

CFG = Config(size=32, iterations=4, device="cpu")


@pytest.fixture
def folder(tmp_path, tubingen):
    src = tmp_path / "in"
    src.mkdir()
    photo = Image.open(tubingen)
    for i, box in enumerate([(0, 0, 400, 300), (300, 200, 700, 500), (600, 400, 1000, 700)]):
        photo.crop(box).save(src / f"p{i}.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "notes.txt").write_text("not a picture, not picked up")
    return src


def pixels(path):
    return np.asarray(Image.open(path))


def test_names_come_from_each_input_alone(tmp_path, starry):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a" / "same.jpg")
    Image.new("RGB", (40, 30), "blue").save(tmp_path / "b" / "same.jpg")
    Image.new("RGB", (40, 30), "green").save(tmp_path / "photo.png")
    a, b, png = tmp_path / "a" / "same.jpg", tmp_path / "b" / "same.jpg", tmp_path / "photo.png"

    def names(*contents, config=CFG):
        return {j.content: j.output.rsplit("/", 1)[-1] for j in batch.plan(contents, [starry], tmp_path / "o", config)}

    first = names(a, b, png)
    assert names(b, a, png) == first  # the order of the inputs does not matter
    assert first[str(a)] != first[str(b)] and all(n.startswith("same-") for n in (first[str(a)], first[str(b)]))
    (tmp_path / "photo.jpg").write_bytes(png.read_bytes()[:-1] + b"\0")  # another file of the same name
    assert names(tmp_path / "photo.jpg", png)[str(png)] == first[str(png)]  # photo.png keeps its name
    assert len(batch.plan([a, a, png], [starry], tmp_path / "o", CFG)) == 2  # the same picture is painted once
    tag = batch.settings_hash([starry], CFG)
    assert len(tag) == 8 and first[str(png)] == batch.output_name(png, tag)
    assert batch.settings_hash([starry], CFG.replace(style_weight=20)) != tag  # another picture: another name
    assert batch.settings_hash([starry], CFG.replace(tolerance=0.0)) != tag
    # a default β or tolerance and the same value given by hand paint the same picture
    assert batch.settings_hash([starry], CFG.replace(style_weight=CFG.beta, tolerance=CFG.tol)) == tag
    for same in (CFG.replace(device="cuda"), CFG.replace(save_every=5), CFG.replace(precision="fp32")):
        assert batch.settings_hash([starry], same) == tag  # the same picture
    assert batch.inputs([tmp_path / "a", tmp_path / "b"]) == [a, b] and batch.inputs([tmp_path / "nothing"]) == [
        tmp_path / "nothing"
    ]  # a missing input is that picture's failure, reported with the rest


def test_outputs_never_go_among_the_inputs(tmp_path, starry, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (40, 30), "red").save(src / "p.png")
    for inputs, out, words in [
        ([src], src, "inside the input folder"),
        ([src], src / "painted", "inside the input folder"),
        ([src / "p.png"], src, "inside the output folder"),
        ([tmp_path], src, "inside the input folder"),
    ]:
        assert main(["batch", *map(str, inputs), "--style", str(starry), "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in src.iterdir()) == ["p.png"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--workers", "0"], "--workers must be 1 or more"),
        (["--dask", "udp://x"], "--dask takes"),
        (["--dask", "local:0"], "--dask local:N needs"),
    ],
)
def test_bad_workers_are_refused_before_the_output_folder_is_made(tmp_path, starry, capsys, extra, words):
    Image.new("RGB", (40, 30), "red").save(tmp_path / "p.png")
    assert main(["batch", str(tmp_path / "p.png"), "--style", str(starry), "-o", str(tmp_path / "new"), *extra]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_in_process_rerun_skips_and_a_bad_file_fails_alone(folder, tmp_path, starry):
    jobs = batch.plan(batch.inputs([folder]), [starry], tmp_path / "out", CFG)
    (tmp_path / "out").mkdir()
    assert [j.content.rsplit("/", 1)[-1] for j in jobs] == ["broken.jpg", "p0.png", "p1.png", "p2.png"]
    first = list(batch.stylize_many(jobs))
    assert [o.status for o in first] == ["failed", "done", "done", "done"]
    assert "broken.jpg" in first[0].error and "corrupt" in first[0].error
    assert sum(o.built for o in first) <= 1  # one network for the whole batch (none if cached already)
    assert all(Image.open(j.output).size == (32, 24) for j in jobs[1:])
    again = list(batch.stylize_many(jobs))
    assert [o.status for o in again] == ["failed", "skipped", "skipped", "skipped"]


def test_pool_and_dask_paint_the_same_pictures(folder, tmp_path, starry):
    out = {}
    for name, kw in [("here", {}), ("pool", {"workers": 2}), ("dask", {"dask": "local:2"})]:
        with executor(**kw) as (pool, threads):
            jobs = batch.plan(batch.inputs([folder]), [starry], tmp_path / name, CFG, threads or 1)
            (tmp_path / name).mkdir()
            outcomes = list(batch.stylize_many(jobs, pool))
        assert sorted(o.status for o in outcomes) == ["done"] * 3 + ["failed"], name
        workers = {o.worker for o in outcomes if o.status == "done"}
        # The network is built once per worker, then reused from its cache for the next pictures.
        assert sum(o.built for o in outcomes) <= len(workers), name
        out[name] = {
            j.output.rsplit("/", 1)[-1]: pixels(j.output)
            for j in jobs
            if j.output.endswith(".png") and "broken" not in j.output
        }
        # Here: this very process; on a pool or Dask: other processes, at most one per worker.
        assert workers == {os.getpid()} if name == "here" else (os.getpid() not in workers and len(workers) <= 2)
    assert out["here"].keys() == out["pool"].keys() == out["dask"].keys() and len(out["here"]) == 3
    # The same pictures: equal, or a few values one 8-bit level apart where float sums ran in
    # another order (a process that ran other work first; seen: 6 of 2304 values).
    for key in out["here"]:
        for other in ("pool", "dask"):
            d = np.abs(out["here"][key].astype(int) - out[other][key])
            assert d.max() <= 1 and (d > 0).mean() < 0.01, (key, other, d.max(), (d > 0).sum())


def test_batch_command_reports_each_file_and_a_summary(folder, tmp_path, starry, capsys):
    args = [
        "batch",
        str(folder),
        "--style",
        str(starry),
        "-o",
        str(tmp_path / "o"),
        "--size",
        "32",
        "--iterations",
        "3",
        "--device",
        "cpu",
        "-q",
    ]
    assert main(args) == 1  # one picture failed
    err = capsys.readouterr().err
    assert err.count("done    ") == 3 and "failed  " in err and "3 painted, 0 already there, 1 failed" in err
    assert err.count("broken.jpg: truncated or corrupt") == 2  # its line, and the summary's
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert len(written) == 3 and all(n.startswith(("p0-", "p1-", "p2-")) for n in written)
    assert main(args) == 1
    assert "0 painted, 3 already there, 1 failed" in capsys.readouterr().err
    missing_style = ["--style", str(tmp_path / "nope.jpg")]
    assert main(["batch", str(folder / "p0.png"), *missing_style, "-o", str(tmp_path / "o")]) == 2
    assert "nope.jpg: no such file" in capsys.readouterr().err
    assert main(["batch", str(folder / "p0.png"), "--style", str(folder), "-o", str(tmp_path / "o")]) == 2
    assert f"style {folder}: is a folder; give a picture" in capsys.readouterr().err
    # --save-every changes nothing in a batch's pictures, so not their names either.
    assert main([*args, "--save-every", "2"]) == 1
    assert "0 painted, 3 already there, 1 failed" in capsys.readouterr().err


def _fifo(path):
    """A named pipe posing as a picture: reading it waits until the test opens it (``_release``),
    so the batch stands still there for as long as the test wants."""
    os.mkfifo(path)
    return path


def _release(fifos):
    """Open each pipe a reader waits on and close it at once: the reader sees an empty file."""
    for f in fifos:
        try:
            os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # nobody is reading it now
            pass


def _batch(inputs, out, starry, *extra):
    return [
        sys.executable,
        "-m",
        "brushwork",
        "batch",
        *map(str, inputs),
        "--style",
        str(starry),
        "-o",
        str(out),
        "--size",
        "32",
        "--iterations",
        "2",
        "--device",
        "cpu",
        "-q",
        *extra,
    ]


def test_a_batch_stopped_by_sigterm_keeps_what_it_wrote_and_a_rerun_paints_the_rest(folder, tmp_path, starry):
    # The batch paints p0, then waits on a pipe for "p1" until the test has seen p0 written and sent SIGTERM.
    inputs = [folder / "p0.png", _fifo(tmp_path / "p1.png"), folder / "p2.png"]
    out = tmp_path / "o"
    proc = subprocess.Popen(_batch(inputs, out, starry), stderr=subprocess.PIPE, text=True)
    wait_for(out / batch.output_name(inputs[0], batch.settings_hash([starry], CFG.replace(iterations=2))), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "brushwork: terminated; 1 painted, 2 not; the same command again paints the rest"
    )
    assert [n[:3] for n in os.listdir(out)] == ["p0-"]  # no partial files
    (tmp_path / "p1.png").unlink()
    (tmp_path / "p1.png").write_bytes((folder / "p1.png").read_bytes())
    rerun = subprocess.run(_batch(inputs, out, starry), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and "2 painted, 1 already there, 0 failed" in rerun.stderr, rerun.stderr
    assert sorted(n[:3] for n in os.listdir(out)) == ["p0-", "p1-", "p2-"]


def test_ctrl_c_on_workers_cancels_the_rest_and_says_what_was_painted(folder, tmp_path, starry):
    # Both workers end up waiting on a pipe (one after painting p0); Ctrl-C goes to the whole process
    # group, as a terminal sends it; the pipes are released only once the batch says it is stopping.
    fifos = [_fifo(tmp_path / "f1.png"), _fifo(tmp_path / "f2.png")]
    inputs = [folder / "p0.png", *fifos, folder / "p1.png", folder / "p2.png"]
    out = tmp_path / "o"
    proc = subprocess.Popen(
        _batch(inputs, out, starry, "--workers", "2"),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interactive,
    )
    wait_for(out / batch.output_name(inputs[0], batch.settings_hash([starry], CFG.replace(iterations=2))), proc)
    os.killpg(proc.pid, signal.SIGINT)
    lines = []
    while not any("stopping" in line for line in lines):
        lines.append(proc.stderr.readline())
        assert lines[-1], "".join(lines)  # the batch must say it is stopping before the pipes let go
    while proc.poll() is None:
        _release(fifos)
        time.sleep(0.05)
    lines += proc.stderr.readlines()
    proc.stderr.close()
    assert proc.returncode == 130, lines
    assert lines[-1].strip() == "brushwork: interrupted; 1 painted, 4 not; the same command again paints the rest"
    assert [n[:3] for n in os.listdir(out)] == ["p0-"]  # nothing painted after Ctrl-C, nothing half written
    assert not any("Traceback" in line for line in lines)
