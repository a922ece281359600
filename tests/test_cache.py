import torch

from brushwork import Config, cache, scales, stylize


def test_lru_makes_once_and_evicts_the_least_recently_used():
    lru = cache.LRU(2)
    made = []

    def make(v):
        return lambda: made.append(v) or v

    assert lru.get("a", make(1)) == 1
    assert lru.get("b", make(2)) == 2
    assert lru.get("a", make(99)) == 1  # hit: not made again, and "a" is now the most recent
    assert lru.get("c", make(3)) == 3  # evicts "b"
    assert lru.get("b", make(4)) == 4
    assert made == [1, 2, 3, 4]
    assert (lru.hits, lru.misses, len(lru)) == (1, 4, 2)


def test_digest_follows_values_shape_and_dtype():
    t = torch.rand(1, 3, 8, 8)
    assert cache.digest(t) == cache.digest(t.clone())
    u = t.clone()
    u[0, 1, 2, 3] += 1e-3
    assert cache.digest(u) != cache.digest(t)
    assert cache.digest(t.view(1, 3, 4, 16)) != cache.digest(t)
    assert cache.digest(t.double()) != cache.digest(t)


def test_second_run_reuses_network_and_targets_and_paints_the_same(tubingen, starry, monkeypatch):
    built = []
    real = scales.StyleTargets
    monkeypatch.setattr(scales, "StyleTargets", lambda *a, **k: built.append(1) or real(*a, **k))
    cache.clear()
    cfg = Config(size=64, start_size=64, iterations=3, seed=1, device="cpu")  # bit for bit: no GPU autotuning
    first = stylize(tubingen, [starry], cfg)
    second = stylize(tubingen, [starry], cfg)
    assert len(built) == 1 and cache.STYLE_TARGETS.hits == 1 and cache.NETWORKS.hits == 1
    assert torch.equal(first.image, second.image)
    cache.clear()
    fresh = stylize(tubingen, [starry], cfg)
    assert torch.equal(fresh.image, first.image)

    # Anything the targets depend on makes a new entry: the style layers, the style picture.
    stylize(tubingen, [starry], cfg.replace(style_layers=("relu1_1", "relu2_1")))
    stylize(tubingen, [tubingen], cfg)
    assert len(built) == 4
