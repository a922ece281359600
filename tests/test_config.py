import dataclasses
import math

import pytest

from brushwork.cli import build_parser, config_from_args
from brushwork.config import Config, ConfigError


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


@pytest.mark.parametrize("changes, message", [
    ({"size": 0}, "--size must be a positive whole number"),
    ({"size": -5}, "--size must be a positive whole number"),
    ({"iterations": 0}, "--iterations must be a positive"),
    ({"content_layer": "relu4_22"}, "did you mean relu4_2"),
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
    ({"style_blend_weights": (0.0, 0.0)}, "positive sum"),
    ({"optimizer": "sgd"}, "--optimizer must be one of lbfgs, adam"),
    ({"pooling": "min"}, "--pooling"),
    ({"device": "gpu"}, "--device must be"),
    ({"save_every": -1}, "--save-every"),
])
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
    ns = parser.parse_args(["paint", "c.jpg", "s1.jpg", "s2.jpg", "-o", "o.png", "--size", "256",
                            "--style-layers", "relu1_1,relu3_1", "--style-blend-weights", "0.3,0.7",
                            "--original-colors", "--style-weight", "5e2", "--optimizer", "adam"])
    cfg = config_from_args(ns)
    assert cfg == Config(size=256, style_layers=("relu1_1", "relu3_1"), style_blend_weights=(0.3, 0.7),
                         color="keep", style_weight=500.0, optimizer="adam")
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["paint"]._actions}
    assert {f.name for f in dataclasses.fields(Config)} <= flags
