"""Real disk faults, on tmpfs mounts the test makes (so it needs root, as CI has): an output on a
read-only file system is refused before any work; a disk that fills up or turns read-only while
painting sends the picture (and a checkpoint) to a rescue folder, said in one line, exit 1;
nothing half written is left anywhere."""

import errno
import os
import subprocess
from pathlib import Path

import av
import pytest
from PIL import Image

from brushwork import checkpoint, engine, images, video, writing
from brushwork.cli import main, paint

import clips

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/bin/mount").exists(),
    reason="needs root to mount the tmpfs file systems these faults happen on",
)
SMALL = ["--size", "64", "--iterations", "2", "--device", "cpu", "-q"]


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """``disk(name, kb, ro=False)``: a tmpfs of ``kb`` KiB at tmp_path/name, unmounted afterwards.
    The home folder (where rescued work goes) is tmp_path/home."""
    mounted = []

    def make(name: str, kb: int = 1024, ro: bool = False) -> Path:
        path = tmp_path / name
        path.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kb}k" + (",ro" if ro else ""), "tmpfs", str(path)], check=True
        )
        mounted.append(path)
        return path

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill ``folder``'s file system, leaving ``leave`` bytes (whole pages) free."""
    spare = folder / ".spare"
    if leave:
        spare.write_bytes(b"\1" * leave)
    with open(folder / ".filler", "wb", buffering=0) as f:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    spare.unlink(missing_ok=True)


def remount_ro(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_read_only_output_is_refused_before_any_work(disk, tubingen, starry, monkeypatch, capsys, tmp_path):
    ro = disk("ro", ro=True)
    monkeypatch.setattr(engine.Painting, "_run", lambda self: pytest.fail("painted before checking the output"))
    src = clips.write(tmp_path / "in.mp4", n=2, size=32, audio=False)
    for args, words in [
        (["paint", str(tubingen), str(starry), "-o", str(ro / "out.png")], f"cannot write in {ro}"),
        (["demo", "-o", str(ro / "out.png")], f"cannot write in {ro}"),
        (["batch", str(tubingen), "--style", str(starry), "-o", str(ro)], f"cannot write in the output folder {ro}"),
        (
            ["batch", str(tubingen), "--style", str(starry), "-o", str(ro / "sub")],
            f"cannot make the output folder {ro / 'sub'}",
        ),
        (["video", str(src), "--style", str(starry), "-o", str(ro / "out.mp4")], f"cannot write in {ro}"),
    ]:
        assert main([*args, *SMALL]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and "Read-only file system" in err[0], err
    assert names(ro) == [] and names(tmp_path / "home") == []


def test_a_full_disk_is_refused_before_any_work(disk, tubingen, starry, monkeypatch, capsys):
    full = disk("full", kb=64)
    fill(full)
    monkeypatch.setattr(engine.Painting, "_run", lambda self: pytest.fail("painted before checking the output"))
    assert main(["paint", str(tubingen), str(starry), "-o", str(full / "out.png"), *SMALL]) == 2
    assert "No space left on device" in capsys.readouterr().err


def test_a_disk_full_at_the_end_sends_the_picture_home(disk, tubingen, starry, capsys, tmp_path):
    full = disk("full", kb=64)
    fill(full, leave=4096)  # room for the check's one byte, not for the picture
    assert main(["paint", str(tubingen), str(starry), "-o", str(full / "out.png"), *SMALL]) == 1
    home = tmp_path / "home"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"brushwork: error: cannot write {full / 'out.png'} (No space left on device); "
        f"wrote the picture to {home / 'out.png'} instead"
    ]
    assert Image.open(home / "out.png").size == (64, 48) and images.read_params(home / "out.png")["step"] == 2
    assert names(full) == [".filler"]  # no partial file


def test_a_disk_turned_read_only_while_painting_keeps_the_work(disk, tubingen, starry, monkeypatch, capsys, tmp_path):
    rw = disk("rw")
    real = paint._save_intermediate

    def save_then_fail(event, output, params):  # the file system turns read-only after step 2's picture
        real(event, output, params)
        if event.step == 2:
            remount_ro(rw)

    monkeypatch.setattr(paint, "_save_intermediate", save_then_fail)
    assert (
        main(
            [
                "paint",
                str(tubingen),
                str(starry),
                "-o",
                str(rw / "out.png"),
                *SMALL,
                "--iterations",
                "50",
                "--save-every",
                "1",
            ]
        )
        == 1
    )
    home = tmp_path / "home"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"brushwork: error: cannot write {rw / 'out_3.png'} (Read-only file system)")
    assert err[0].endswith(
        f"wrote the best picture so far to {home / 'out.png'} and a checkpoint to "
        f"{home / 'out.png.ckpt'} (continue with --resume {home / 'out.png.ckpt'})"
    )
    assert checkpoint.load(home / "out.png.ckpt")["step"] == 3 and Image.open(home / "out.png").size == (64, 48)
    assert names(rw) == ["out_1.png", "out_2.png"]


def test_ctrl_c_on_a_full_disk_keeps_the_work_elsewhere(disk, tubingen, starry, monkeypatch, capsys, tmp_path):
    full = disk("full", kb=256)

    def fill_then_interrupt(event, output, params):  # the disk fills up, then Ctrl-C arrives
        fill(full)
        raise KeyboardInterrupt

    monkeypatch.setattr(paint, "_save_intermediate", fill_then_interrupt)
    assert (
        main(
            [
                "paint",
                str(tubingen),
                str(starry),
                "-o",
                str(full / "out.png"),
                *SMALL,
                "--iterations",
                "50",
                "--save-every",
                "3",
            ]
        )
        == 130
    )
    home = tmp_path / "home"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"brushwork: interrupted; cannot write {full / 'out.png'} (No space left on device); wrote the best "
        f"picture so far to {home / 'out.png'} and a checkpoint to {home / 'out.png.ckpt'} "
        f"(continue with --resume {home / 'out.png.ckpt'})"
    ]
    assert checkpoint.load(home / "out.png.ckpt")["step"] == 3
    assert names(full) == [".filler"]


def test_a_batch_on_a_full_disk_keeps_each_picture_at_home(disk, tubingen, starry, capsys, tmp_path):
    full = disk("full", kb=64)
    fill(full, leave=4096)
    Image.open(tubingen).crop((0, 0, 400, 300)).save(tmp_path / "a.png")
    assert main(["batch", str(tubingen), str(tmp_path / "a.png"), "--style", str(starry), "-o", str(full), *SMALL]) == 1
    err = capsys.readouterr().err
    assert err.count("(No space left on device); the picture is in ") == 4  # each line, and the summary's
    assert sorted(p.name[:2] for p in (tmp_path / "home").iterdir()) == ["a-", "tu"]
    assert names(full) == [".filler"]


def test_a_video_whose_disk_fills_midway_goes_home_whole(disk, starry, monkeypatch, capsys, tmp_path):
    full = disk("full", kb=256)
    src = clips.write(tmp_path / "in.mp4", n=8, size=64, audio=False)
    real = video.Writer.write

    def write_then_fill(self, frame, pts):  # the disk fills up after the second frame
        real(self, frame, pts)
        if self.frames == 2:
            fill(full)

    monkeypatch.setattr(video.Writer, "write", write_then_fill)
    # Lossless, so the frames after the second need more room than the file's first page had.
    assert main(["video", str(src), "--style", str(starry), "-o", str(full / "out.mp4"), *SMALL, "--crf", "0"]) == 1
    home = tmp_path / "home"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"brushwork: error: cannot write {full / 'out.mp4'} (No space left on device); "
        f"wrote the video to {home / 'out.mp4'} instead"
    ]
    with av.open(str(home / "out.mp4")) as box:
        assert len([f for f in box.decode(video=0)]) == 8
    assert names(full) == [".filler"]


def test_a_spilled_stream_is_byte_for_byte_what_was_written(disk):
    full = disk("full", kb=64)
    fill(full, leave=8192)
    data = os.urandom(30000)
    spill = writing.Spill(full / "x.bin", rescue=True)
    spill.write(b"\0" * 8)  # a header, patched at the end as a muxer does
    spill.write(data[:6000])
    spill.write(data[6000:])  # the disk is full here
    spill.seek(0)
    spill.write(b"HEADER!!")
    where = spill.commit()
    assert where == Path.home() / "x.bin" and spill.error.errno == errno.ENOSPC
    assert where.read_bytes() == b"HEADER!!" + data and names(full) == [".filler"]
    with pytest.raises(OSError):  # without rescue, the library only raises
        stream = writing.Spill(full / "y.bin")
        try:
            stream.write(data)
        finally:
            stream.discard()
    assert names(full) == [".filler"]
