import pytest

from brushwork import Config, ConfigError
from brushwork.cli import build_parser, config_from_args
from brushwork.presets import load_preset, names


def test_bundled_presets_load():
    assert {"paper", "jcjohnson", "preview", "hires"} <= set(names())
    paper = load_preset("paper")
    assert paper.init == "noise" and paper.pooling == "avg" and paper.schedule() == [512]
    assert load_preset("hires").size == 2048 and load_preset("hires").schedule() == [256, 512, 1024, 2048]
    assert load_preset("preview").size == 256


def test_user_toml_and_errors(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('style-weight = 25.0\nstyle_layers = ["relu2_1", "relu3_1"]\n')
    cfg = load_preset(str(mine))
    assert cfg.style_weight == 25.0 and cfg.style_layers == ("relu2_1", "relu3_1")
    assert cfg.size == Config().size
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_preset("nope")
    (tmp_path / "bad.toml").write_text("size = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_preset(str(tmp_path / "bad.toml"))
    (tmp_path / "typo.toml").write_text("style_wieght = 3.0")
    with pytest.raises(ConfigError, match="did you mean style_weight"):
        load_preset(str(tmp_path / "typo.toml"))
    (tmp_path / "neg.toml").write_text("size = -1")
    with pytest.raises(ConfigError, match="--size"):
        load_preset(str(tmp_path / "neg.toml"))


def test_flags_override_preset():
    ns = build_parser().parse_args(["paint", "c.jpg", "s.jpg", "-o", "o.png", "--preset", "preview", "--size", "300"])
    cfg = config_from_args(ns)
    assert cfg.size == 300 and cfg.iterations == 100  # size from the flag, iterations from the preset


@pytest.mark.parametrize(
    "line, message",
    [
        ('normalize_gradients = "no"', "--normalize-gradients must be true or false, not 'no'"),
        ("seed = 1.5", "--seed must be a whole number, not 1.5"),
        ("device = 5", "--device must be text, not 5"),
        ("init = 5", "--init must be text, not 5"),
        ("weights = 5", "--weights must be text, not 5"),
        ('style_layers = "relu1_1"', "--style-layers must be a list of strings, not 'relu1_1'"),
        ('tile_size = "x"', "--tile-size must be a whole number, not 'x'"),
        ("style_weight = true", "--style-weight must be a number, not True"),
        ("style_blend_weights = [1, [2]]", "--style-blend-weights must be a list of numbers, not 1,[2]"),
    ],
)
def test_a_users_toml_is_held_to_the_field_types(tmp_path, line, message):
    path = tmp_path / "mine.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as e:
        load_preset(str(path))
    assert str(e.value) == message


def test_whole_numbers_in_a_toml_serve_for_numbers(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("style_weight = 20\ncontent_weight = 0\n")
    cfg = load_preset(str(path))
    assert (cfg.style_weight, cfg.content_weight) == (20.0, 0.0) and type(cfg.style_weight) is float
