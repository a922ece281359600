import os

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork import batch, checkpoint, images
from brushwork.cli import main


def test_load_path_pil_and_tensor_agree(tmp_path):
    arr = (np.arange(4 * 6 * 3) % 256).astype(np.uint8).reshape(4, 6, 3)
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    from_path = images.load(path)
    from_pil = images.load(Image.fromarray(arr))
    assert from_path.shape == (1, 3, 4, 6) and from_path.dtype == torch.float32
    assert torch.equal(from_path, from_pil)
    assert torch.equal(images.load(from_path[0]), from_path)
    assert from_path[0, :, 1, 2].tolist() == pytest.approx((arr[1, 2] / 255.0).tolist())


def test_alpha_composited_on_white_and_grey_expanded():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 0))  # fully transparent red: must not show
    rgba.putpixel((1, 0), (0, 0, 255, 255))
    t = images.load(rgba)
    assert t[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    assert t[0, :, 0, 1].tolist() == [0.0, 0.0, 1.0]
    grey = images.load(Image.new("L", (3, 3), 128))
    assert grey.shape == (1, 3, 3, 3) and torch.allclose(grey, torch.full_like(grey, 128 / 255))


def test_exif_orientation_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif)
    assert images.load(path).shape[-2:] == (40, 20)


def test_bad_inputs(tmp_path):
    with pytest.raises(images.ImageError, match="no such file"):
        images.load(tmp_path / "missing.jpg")
    with pytest.raises(images.ImageError, match="is a folder"):
        images.load(tmp_path)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(images.ImageError, match="junk.jpg: (not an image|truncated or corrupt)"):
        images.load(junk)
    with pytest.raises(images.ImageError, match="NaN"):
        images.load(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(images.ImageError, match=r"\(3, H, W\)"):
        images.load(torch.zeros(2, 3, 4, 4))


def test_fit_and_resize():
    assert images.fit(512, 600, 800) == (384, 512)
    assert images.fit(100, 50, 50) == (100, 100)
    t = images.resize(torch.rand(1, 3, 30, 40), (15, 20))
    assert t.shape == (1, 3, 15, 20) and t.min() >= 0 and t.max() <= 1


def test_save_png_with_params_round_trip(tmp_path):
    t = torch.rand(1, 3, 8, 9)
    path = images.save(t, tmp_path / "o.png", {"config": {"size": 9}, "seed": 1})
    assert images.read_params(path) == {"config": {"size": 9}, "seed": 1}
    back = images.load(path)
    assert (back - t).abs().max() <= 0.5 / 255 + 1e-6
    assert os.listdir(tmp_path) == ["o.png"]  # no temp file left
    for ext in (".jpg", ".webp", ".tif", ".bmp"):
        images.save(t, tmp_path / f"o{ext}")
        assert images.load(tmp_path / f"o{ext}").shape == (1, 3, 8, 9)


def test_save_errors_leave_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    path.write_bytes(b"precious")
    with pytest.raises(images.ImageError, match="unknown image type"):
        images.save(torch.rand(1, 3, 4, 4), tmp_path / "x.gifx")
    with pytest.raises(images.ImageError, match="does not exist"):
        images.save(torch.rand(1, 3, 4, 4), tmp_path / "nofolder" / "x.png")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        images.save(torch.rand(1, 3, 4, 4), path)
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["keep.png"]


def test_read_params_errors(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (2, 2)).save(plain)
    with pytest.raises(images.ImageError, match="carries no brushwork parameters"):
        images.read_params(plain)
    with pytest.raises(images.ImageError, match="no such file"):
        images.read_params(tmp_path / "none.png")


def test_modes_follow_the_umask_and_the_replaced_file(tmp_path, tubingen, starry):
    old = os.umask(0o002)
    try:
        out = tmp_path / "out.png"
        assert (
            main(
                [
                    "paint",
                    str(tubingen),
                    str(starry),
                    "-o",
                    str(out),
                    "--size",
                    "32",
                    "--iterations",
                    "1",
                    "--device",
                    "cpu",
                    "-q",
                ]
            )
            == 0
        )
        assert out.stat().st_mode & 0o777 == 0o664
        out.chmod(0o640)
        images.save(torch.rand(1, 3, 4, 4), out)
        assert out.stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        ckpt = checkpoint.save({"x": 1}, tmp_path / "c.ckpt")
        assert ckpt.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    images.save(torch.rand(1, 3, 4, 4), link)
    assert link.is_symlink() and images.load(real).shape == (1, 3, 4, 4)
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "link.png", "out.png", "real.png"]


def test_names_near_the_file_systems_limit(tmp_path, capsys):
    long = tmp_path / ("b" * 250 + ".png")  # 254 bytes: fits, though its temporary file's name would not
    images.save(torch.rand(1, 3, 4, 4), long)
    assert os.listdir(tmp_path) == [long.name]
    with pytest.raises(images.ImageError, match="File name too long"):
        images.check_writable(tmp_path / ("a" * 252 + ".png"))
    assert len(batch.output_name(long, "tag").encode()) < 200
    assert main(["info", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"brushwork: error: {tmp_path}: is a folder, not a picture\n"
