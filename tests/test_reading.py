"""The loader against what people keep on their disks: each unusual file paints correctly
(orientation and colours checked), each bad one exits 2 with one line naming the file and the
problem; a fuzz test mutates image bytes."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from brushwork import images, reading
from brushwork.cli import main

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _halves(mode_color=("RGB", RED, BLUE), size=(40, 30)):
    """Left half one colour, right half another."""
    mode, left, right = mode_color
    im = Image.new(mode, size, left)
    im.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return im


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_claiming(w: int, h: int) -> bytes:
    """A valid 1×1 PNG whose header claims w×h pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# name -> (writer(path), expected (h, w) after loading, {(y, x): RGB in 0..1} to check)
def _good_cases():
    c = {}
    c["exif_rotated_90.jpg"] = (
        lambda p: _halves().save(p, exif=_exif(6), quality=95),
        (40, 30),
        {(5, 15): (1, 0, 0), (35, 15): (0, 0, 1)},
    )  # left half shows on top
    c["exif_rotated_180.jpg"] = (
        lambda p: _halves().save(p, exif=_exif(3), quality=95),
        (30, 40),
        {(15, 5): (0, 0, 1), (15, 35): (1, 0, 0)},
    )
    c["exif_mirrored.jpg"] = (
        lambda p: _halves().save(p, exif=_exif(2), quality=95),
        (30, 40),
        {(15, 5): (0, 0, 1), (15, 35): (1, 0, 0)},
    )

    def rgba(p):
        im = Image.new("RGBA", (40, 30), (0, 255, 0, 0))  # hidden green under alpha 0: must not show
        im.paste((0, 0, 255, 255), (20, 0, 40, 30))
        im.save(p)

    c["rgba_hidden_colour.png"] = (rgba, (30, 40), {(15, 5): (1, 1, 1), (15, 35): (0, 0, 1)})
    c["half_transparent.png"] = (
        lambda p: Image.new("RGBA", (40, 30), (0, 0, 0, 128)).save(p),
        (30, 40),
        {(15, 15): (127 / 255, 127 / 255, 127 / 255)},
    )
    c["grey_alpha.png"] = (lambda p: Image.new("LA", (40, 30), (0, 0)).save(p), (30, 40), {(1, 1): (1, 1, 1)})

    def palette_transparent(p):
        im = _halves(("P", 1, 2))
        im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
        im.save(p, transparency=2)  # the blue half is transparent

    c["palette_transparent.png"] = (palette_transparent, (30, 40), {(15, 5): (1, 0, 0), (15, 35): (1, 1, 1)})

    def gif_transparent(p):
        im = _halves(("P", 1, 2))
        im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
        im.save(p, transparency=1)  # the red half

    c["transparent.gif"] = (gif_transparent, (30, 40), {(15, 5): (1, 1, 1), (15, 35): (0, 0, 1)})
    c["palette.png"] = (lambda p: _halves().convert("P").save(p), (30, 40), {(15, 5): (1, 0, 0), (15, 35): (0, 0, 1)})
    c["grey.jpg"] = (
        lambda p: Image.new("L", (40, 30), 128).save(p, quality=95),
        (30, 40),
        {(15, 15): (128 / 255,) * 3},
    )
    c["grey_16bit.png"] = (
        lambda p: Image.fromarray(np.full((30, 40), 49152, np.uint16)).save(p),
        (30, 40),
        {(15, 15): (0.75, 0.75, 0.75)},
    )  # 3/4 grey, not clipped to white

    def tiff_grey16(p):
        import tifffile

        tifffile.imwrite(p, np.full((30, 40), 16384, np.uint16))

    c["grey_16bit.tif"] = (tiff_grey16, (30, 40), {(15, 15): (0.25, 0.25, 0.25)})
    rgb16 = np.zeros((30, 40, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 2] = 65535, 32768
    c["rgb_16bit.png"] = (lambda p: p.write_bytes(_png16(rgb16)), (30, 40), {(15, 15): (1, 0, 128 / 255)})

    def tiff_rgb16(p):
        import tifffile

        tifffile.imwrite(p, rgb16, photometric="rgb")

    c["rgb_16bit.tif"] = (tiff_rgb16, (30, 40), {(15, 15): (1, 0, 32768 / 65535)})
    c["cmyk.jpg"] = (
        lambda p: Image.new("CMYK", (40, 30), (255, 0, 0, 0)).save(p, quality=95),
        (30, 40),
        {(15, 15): (0, 1, 1)},
    )  # pure cyan

    def srgb_profile(p):
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        _halves().save(p, icc_profile=icc)

    c["srgb_profile.png"] = (srgb_profile, (30, 40), {(15, 5): (1, 0, 0), (15, 35): (0, 0, 1)})
    c["broken_profile.png"] = (
        lambda p: _halves().save(p, icc_profile=b"not a profile"),
        (30, 40),
        {(15, 5): (1, 0, 0)},
    )

    def animated_gif(p):
        frames = [Image.new("RGB", (40, 30), col) for col in (RED, BLUE, (0, 255, 0))]
        frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)

    c["animated.gif"] = (animated_gif, (30, 40), {(15, 15): (1, 0, 0)})

    def animated_webp(p):
        frames = [Image.new("RGB", (40, 30), col) for col in (BLUE, RED)]
        frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, lossless=True)

    c["animated.webp"] = (animated_webp, (30, 40), {(15, 15): (0, 0, 1)})
    c["plain.bmp"] = (lambda p: _halves().save(p), (30, 40), {(15, 5): (1, 0, 0), (15, 35): (0, 0, 1)})
    c["lossless.webp"] = (lambda p: _halves().save(p, lossless=True), (30, 40), {(15, 35): (0, 0, 1)})
    c["jpeg_named.png"] = (lambda p: _halves().save(p, "JPEG", quality=95), (30, 40), {(15, 5): (1, 0, 0)})
    return c


GOOD = _good_cases()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_unusual_image_loads_with_right_orientation_and_colours(tmp_path, name):
    write, hw, pixels = GOOD[name]
    path = tmp_path / name
    write(path)
    t = images.load(path)
    assert t.shape == (1, 3, *hw) and t.dtype == torch.float32
    for (y, x), rgb in pixels.items():
        got = t[0, :, y, x].tolist()
        assert got == pytest.approx(rgb, abs=0.04), f"{name} at {(y, x)}: {got}"


# name -> (writer(path), what the message must say besides the file's name)
BAD = {
    "missing.jpg": (None, "no such file"),
    "folder.png": (lambda p: p.mkdir(), "is a folder"),
    "empty.jpg": (lambda p: p.write_bytes(b""), "not an image brushwork can read"),
    "random.jpg": (lambda p: p.write_bytes(os.urandom(2000)), "not an image brushwork can read"),
    "text.png": (lambda p: p.write_text("hello, I am not a picture\n"), "not an image brushwork can read"),
    "document.pdf": (lambda p: p.write_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), "not an image brushwork can read"),
    "icon.ico": (lambda p: _halves(size=(32, 32)).save(p), "ICO images are not supported"),
    "truncated.jpg": (lambda p: p.write_bytes(_encoded("JPEG")[:700]), "truncated or corrupt"),
    "truncated.png": (lambda p: p.write_bytes(_encoded("PNG")[:300]), "truncated or corrupt"),
    "header_only.png": (lambda p: p.write_bytes(_encoded("PNG")[:40]), ""),
    "too_many_pixels.png": (lambda p: p.write_bytes(_png_claiming(9000, 9000)), "64 megapixels"),
    "bomb.png": (lambda p: p.write_bytes(_png_claiming(100000, 100000)), "far too large"),
}


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_exits_2_with_one_line_naming_it(tmp_path, capsys, name, starry):
    write, why = BAD[name]
    path = tmp_path / name
    if write:
        write(path)
    out = tmp_path / "out.png"
    code = main(["paint", str(path), str(starry), "-o", str(out), "--size", "32", "--iterations", "1", "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and why in err
    assert "<_io." not in err  # the file's name once, not a Python object's
    assert not out.exists()


@pytest.mark.parametrize(
    "name",
    [
        "exif_rotated_90.jpg",
        "rgba_hidden_colour.png",
        "grey_16bit.png",
        "cmyk.jpg",
        "animated.gif",
        "palette_transparent.png",
    ],
)
def test_unusual_image_paints_through_the_cli(tmp_path, name, starry):
    write, hw, _ = GOOD[name]
    path = tmp_path / name
    write(path)
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "paint",
                str(path),
                str(starry),
                "-o",
                str(out),
                "--size",
                "32",
                "--iterations",
                "2",
                "-q",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    h, w = images.fit(32, *hw)
    assert Image.open(out).size == (w, h)
    # The same picture as a style image works too.
    assert (
        main(
            [
                "paint",
                str(starry),
                str(path),
                "-o",
                str(out),
                "--size",
                "32",
                "--iterations",
                "1",
                "-q",
                "--device",
                "cpu",
                "--style-scale",
                "2",
            ]
        )
        == 0
    )


def test_sixteen_bit_tiff_round_trip_keeps_the_precision(tmp_path):
    t = torch.rand(1, 3, 12, 10)
    path = images.save(t, tmp_path / "deep.tif")
    back = images.load(path)
    assert (back - t).abs().max() <= 0.5 / 65535 + 1e-6  # 8 bits would be off by up to 0.5/255


SEEDS = [_encoded(f) for f in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")]


@settings(
    max_examples=int(os.environ.get("BRUSHWORK_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    cut=st.integers(0, 5000),
    flips=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=8),
    junk=st.binary(max_size=64),
)
def test_fuzzed_bytes_load_or_fail_clearly(seed, cut, flips, junk):
    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut)]) + junk
    try:
        t = reading.load_bytes(data, "fuzz.bin")
    except reading.ImageError as e:
        assert str(e).startswith("fuzz.bin: ")
        return
    assert t.dim() == 4 and t.shape[:2] == (1, 3) and torch.isfinite(t).all()
    assert 0 <= t.min() and t.max() <= 1
