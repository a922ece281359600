import dataclasses
import math
import os
import re

import numpy as np
import pytest

from brushwork.cli import build_parser, config_from_args, main
from brushwork.config import Config, ConfigError
from brushwork.options import check, option


def test_defaults_are_valid_and_frozen():
    cfg = Config()
    assert cfg.content_layer == "relu4_2"
    assert cfg.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert cfg.size == 512
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.size = 3


def test_every_field_has_help():
    for f in dataclasses.fields(Config):
        assert f.metadata.get("help"), f.name


def test_lambdas_and_blend_normalized():
    cfg = Config(style_layers=("relu1_1", "relu2_1"), style_layer_weights=(1.0, 3.0))
    assert cfg.lambdas == {"relu1_1": 0.25, "relu2_1": 0.75}
    assert Config().blend(2) == [0.5, 0.5]
    assert Config(style_blend_weights=(3.0, 1.0)).blend(2) == [0.75, 0.25]
    with pytest.raises(ConfigError, match="2 values for 3 style images"):
        Config(style_blend_weights=(3.0, 1.0)).blend(3)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"size": 0}, "--size must be a positive whole number, not 0"),
        ({"size": -5}, "--size must be a positive whole number, not -5"),
        ({"size": 100000}, "--size must be a whole number from 1 to 65536, not 100000"),
        ({"iterations": 0}, "--iterations must be a positive whole number, not 0"),
        ({"content_layer": "relu4_22"}, "--content-layer: unknown VGG19 layer 'relu4_22'; did you mean relu4_2"),
        ({"style_layers": ("relu1_1", "rleu2_1")}, "did you mean relu2_1"),
        ({"style_layers": ()}, "at least one layer"),
        ({"style_layers": ("relu1_1", "relu1_1")}, "twice"),
        ({"style_weight": -1.0}, "--style-weight must be a number ≥ 0"),
        ({"content_weight": math.nan}, "--content-weight must be"),
        ({"tv_weight": math.inf}, "--tv-weight must be"),
        ({"style_scale": 0.0}, "--style-scale must be a positive number"),
        ({"learning_rate": -0.1}, "--learning-rate"),
        ({"style_layer_weights": (1.0, 2.0)}, "2 values for 5 style layers"),
        ({"style_blend_weights": (1.0, -1.0)}, "--style-blend-weights"),
        ({"style_blend_weights": (0.0, 0.0)}, "--style-blend-weights must have a positive sum, not 0.0,0.0"),
        ({"optimizer": "sgd"}, "--optimizer must be one of lbfgs, adam"),
        ({"pooling": "min"}, "--pooling"),
        ({"device": "gpu"}, "--device must be"),
        ({"device": "cuda:²"}, "--device must be auto, cpu, cuda, cuda:N or mps, not 'cuda:²'"),
        ({"device": "cpu:0"}, "--device must be"),
        ({"save_every": -1}, "--save-every must be a whole number ≥ 0, not -1"),
        ({"tile_size": 64}, "--tile-size must be 0 .never. or at least 128, not 64"),
        ({"scales": ()}, "--scales needs at least one size"),
        ({"scales": (256, 1024)}, "--scales goes up to 1024, above --size 512"),
    ],
)
def test_bad_options_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_json_round_trip():
    cfg = Config(size=300, style_layers=("relu2_1", "relu3_1"), style_blend_weights=(1.0, 2.0), color="keep")
    assert Config.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match="unknown options: colour"):
        Config.from_json('{"colour": 1}')


def test_learning_rate_default_per_optimizer():
    assert Config().lr == 1.0
    assert Config(optimizer="adam").lr == 0.02
    assert Config(optimizer="adam", learning_rate=0.5).lr == 0.5


def test_cli_flags_come_from_the_dataclass():
    parser = build_parser()
    ns = parser.parse_args(["paint", "c.jpg", "s.jpg", "-o", "o.png"])
    assert config_from_args(ns) == Config()  # no flag given: exactly the dataclass defaults
    ns = parser.parse_args(
        [
            "paint",
            "c.jpg",
            "s1.jpg",
            "s2.jpg",
            "-o",
            "o.png",
            "--size",
            "256",
            "--style-layers",
            "relu1_1,relu3_1",
            "--style-blend-weights",
            "0.3,0.7",
            "--original-colors",
            "--style-weight",
            "5e2",
            "--optimizer",
            "adam",
        ]
    )
    cfg = config_from_args(ns)
    assert cfg == Config(
        size=256,
        style_layers=("relu1_1", "relu3_1"),
        style_blend_weights=(0.3, 0.7),
        color="keep",
        style_weight=500.0,
        optimizer="adam",
    )
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["paint"]._actions}
    assert {f.name for f in dataclasses.fields(Config)} <= flags


@pytest.mark.parametrize(
    "changes, message",
    [
        # Each field is held to its annotation: exact types, finite numbers, bounds; the message names the flag.
        ({"seed": 1.5}, "--seed must be a whole number, not 1.5"),
        (
            {"seed": 99999999999999999999999},
            "--seed must be a whole number from 0 to 18446744073709551615, not 99999999999999999999999",
        ),
        ({"seed": -1}, "--seed must be a whole number from 0 to"),
        ({"size": True}, "--size must be a whole number, not True"),  # a bool is not a number
        ({"size": 256.0}, "--size must be a whole number, not 256.0"),
        ({"device": 0}, "--device must be text, not 0"),
        ({"init": 5}, "--init must be text, not 5"),
        ({"weights": 5}, "--weights must be text, not 5"),
        ({"style_layers": "relu1_1"}, "--style-layers must be a list of strings, not 'relu1_1'"),
        ({"style_layers": ("relu1_1", 2)}, "--style-layers must be a list of strings, not relu1_1,2"),
        ({"tile_size": "x"}, "--tile-size must be a whole number, not 'x'"),
        ({"normalize_gradients": "no"}, "--normalize-gradients must be true or false, not 'no'"),
        ({"normalize_gradients": 1}, "--normalize-gradients must be true or false, not 1"),
        ({"scales": (0, 64)}, "--scales must be a list of positive whole numbers, not 0,64"),
        ({"style_weight": "10"}, "--style-weight must be a number, not '10'"),
        ({"style_weight": math.inf}, "--style-weight must be a number, not inf"),
        ({"style_scale": 0}, "--style-scale must be a positive number, not 0"),
        ({"optimizer": 5}, "--optimizer must be one of lbfgs, adam, not 5"),
        ({"style_masks": "1=m.png"}, "--style-mask must be a list of strings, not '1=m.png'"),
        ({"style_blend_weights": (1.0, None)}, "--style-blend-weights must be a list of numbers, not 1.0,None"),
    ],
)
def test_every_field_is_checked_by_its_type(changes, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        Config(**changes)


def test_values_take_their_normal_form():
    cfg = Config(
        style_weight=20,
        style_layers=["relu1_1", "relu2_1"],
        style_layer_weights=[1, 3],
        size=np.int64(256),
        learning_rate=np.float32(0.5),
    )
    assert type(cfg.style_weight) is float and cfg.style_weight == 20.0
    assert cfg.style_layers == ("relu1_1", "relu2_1") and cfg.style_layer_weights == (1.0, 3.0)
    assert type(cfg.size) is int and cfg.size == 256 and type(cfg.learning_rate) is float
    assert cfg == Config(
        style_weight=20.0,
        style_layers=("relu1_1", "relu2_1"),
        style_layer_weights=(1.0, 3.0),
        size=256,
        learning_rate=0.5,
    )
    assert cfg.to_json() == Config.from_json(cfg.to_json()).to_json()  # 20 and 20.0 name one picture


def test_a_new_field_is_checked_without_code_of_its_own():
    @dataclasses.dataclass(frozen=True)
    class Later:
        tolerance: float = option(1e-3, "stop a scale when the loss improves less", ge=0)
        steps: tuple[int, ...] | None = option(None, "steps per scale", ge=1)
        fast: bool = option(False, "go fast")

        def __post_init__(self):
            check(self)

    assert Later(tolerance=0, steps=[3, 4]).steps == (3, 4)
    for kw, message in [
        ({"tolerance": -1.0}, "--tolerance must be a number ≥ 0, not -1.0"),
        ({"tolerance": "x"}, "--tolerance must be a number, not 'x'"),
        ({"steps": (0,)}, "--steps must be a list of positive whole numbers, not 0"),
        ({"fast": "yes"}, "--fast must be true or false, not 'yes'"),
    ]:
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            Later(**kw)


def test_from_dict_and_json_check_types_and_shapes():
    with pytest.raises(ConfigError, match=r"--normalize-gradients must be true or false, not 'no'"):
        Config.from_dict({"normalize-gradients": "no"})
    with pytest.raises(ConfigError, match="options must be a table of names and values, not list"):
        Config.from_dict([1, 2])
    with pytest.raises(ConfigError, match="x.png: not JSON"):
        Config.from_json("{", source="x.png")


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--seed", "1.5", "--seed must be a whole number, not 1.5"),
        (
            "--seed",
            "99999999999999999999999",
            "--seed must be a whole number from 0 to 18446744073709551615, not 99999999999999999999999",
        ),
        ("--size", "big", "--size must be a whole number, not 'big'"),
        ("--style-weight", "x", "--style-weight must be a number, not 'x'"),
        ("--scales", "0,64", "--scales must be a list of positive whole numbers, not 0,64"),
        ("--optimizer", "sgd", "--optimizer must be one of lbfgs, adam, not 'sgd'"),
        ("--crf", "60", "--crf must be a whole number from 0 to 51, not 60"),
        ("--chunk", "-1", "--chunk must be a whole number ≥ 0, not -1"),
    ],
)
def test_the_cli_ends_in_the_same_check(flag, value, message, capsys, tmp_path):
    command = "video" if flag in ("--crf", "--chunk") else "batch"
    args = [command, "in", "--style", "s.jpg", "-o", str(tmp_path / "out.mp4"), flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"brushwork: error: {message}"]
    assert os.listdir(tmp_path) == []


def test_original_colors_and_another_color_are_refused_together(capsys):
    ns = build_parser().parse_args(["paint", "c.jpg", "s.jpg", "-o", "o.png", "--original-colors", "--color", "keep"])
    assert config_from_args(ns).color == "keep"
    ns = build_parser().parse_args(["paint", "c.jpg", "s.jpg", "-o", "o.png", "--color", "match", "--original-colors"])
    with pytest.raises(ConfigError, match="--original-colors means --color keep; it cannot go with --color match"):
        config_from_args(ns)


def test_the_deepest_layer_sets_the_network_and_the_smallest_picture():
    from brushwork.inputs import min_size

    cfg = Config(content_layer="relu2_2", style_layers=("relu1_1", "relu3_1"))
    assert cfg.deepest_layer == "relu3_1"
    assert min_size(cfg) == 4  # relu3_1 comes after pool1 and pool2
    assert Config().deepest_layer == "relu5_1" and min_size(Config()) == 16
