"""Make the example pictures of README.md with brushwork itself.

python docs/examples.py [--device auto] [--images ../shared/images] [--out docs/examples]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from brushwork import Config, stylize
from brushwork.presets import load_preset

ROOT = Path(__file__).resolve().parent.parent


def sky_masks(content: Path, out: Path) -> tuple[Path, Path]:
    """Two masks splitting the Tübingen photo at its roofline (sky above, town and river below)."""
    w, h = Image.open(content).size
    sky = Image.new("L", (w, h), 0)
    sky.paste(255, (0, 0, w, int(h * 0.36)))
    town = Image.eval(sky, lambda v: 255 - v)
    sky.save(out / "mask_sky.png")
    town.save(out / "mask_town.png")
    return out / "mask_sky.png", out / "mask_town.png"


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "images")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "examples")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--only", nargs="*", default=None, help="make only these examples")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tub, starry, scream, wreck = (
        args.images / n for n in ("tubingen.jpg", "starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")
    )
    base = Config(size=args.size, device=args.device)
    sky, town = sky_masks(tub, args.out)
    jobs = {
        "color_style": (tub, [starry], base, None),
        "color_keep": (tub, [starry], base.replace(color="keep"), None),
        "color_luminance": (tub, [starry], base.replace(color="luminance"), None),
        "color_match": (tub, [starry], base.replace(color="match"), None),
        "mask_sky_starry_town_scream": (
            tub,
            [starry, scream],
            base.replace(style_masks=(f"1={sky}", f"2={town}")),
            None,
        ),
        "blend_starry_scream": (tub, [starry, scream], base.replace(style_blend_weights=(1.0, 1.0)), None),
        # W2 at its own default β (2.9, in gram's units: Config.gram_units).
        "loss_w2": (tub, [wreck], base.replace(style_loss="w2"), None),
        "loss_gram": (tub, [wreck], base, None),
        "normalize_gradients": (tub, [wreck], base.replace(normalize_gradients=True, style_weight=3.0), None),
        "single_scale": (tub, [starry], base.replace(start_size=args.size, iterations=500), None),
        "preset_preview": (tub, [starry], load_preset("preview").replace(device=args.device), None),
    }
    for name, (content, styles, cfg, _) in jobs.items():
        if args.only is not None and name not in args.only:
            continue
        r = stylize(content, styles, cfg)
        r.to_pil().save(args.out / f"{name}.jpg", quality=88)
        print(f"{name}: {r.elapsed:.1f} s, losses {dict((k, round(v, 3)) for k, v in r.losses.items())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
