"""The cost functions of Gatys et al. 2015, exactly as the course notes define them.

One pure function per formula; names follow the notes. Shapes use ``(m, n_C, n_H, n_W)``
for a batch of activations (``m`` is usually 1). Every sum is accumulated in float32 (or
float64 when the inputs are float64, for gradcheck), whatever the activation dtype, so that
bfloat16 activations never lose the small differences the costs are made of. The one exception
is the Gram product of bfloat16 activations (``gram_matrix``): it multiplies in bfloat16 with
float32 accumulation, in blocks of ``GRAM_BLOCK`` positions whose sums are rounded to bfloat16
before they are added in float32 (5–10× faster than a float32 copy; relative error ≤ 2·10⁻³).

The normalizations ``1/(4·n_H·n_W·n_C)`` and ``1/(4·n_C²·(n_H·n_W)²)`` make each cost a
mean over pixels, so the same α and β mean the same at every image size.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping

import torch
from torch import Tensor


def _acc(x: Tensor) -> Tensor:
    """Cast to the accumulation dtype: float32, or float64 if ``x`` already is."""
    return x.double() if x.dtype == torch.float64 else x.float()


def content_cost(a_C: Tensor, a_G: Tensor) -> Tensor:
    """``J_content = 1/(4·n_H·n_W·n_C) · Σ (a_C − a_G)²``.

    a_C, a_G: activations of the content layer, shape ``(m, n_C, n_H, n_W)`` or
    ``(n_C, n_H, n_W)``. Returns a scalar (summed over the batch).
    """
    if a_C.shape != a_G.shape:
        raise ValueError(f"content activations differ in shape: {tuple(a_C.shape)} vs {tuple(a_G.shape)}")
    n_C, n_H, n_W = a_G.shape[-3:]
    return ((_acc(a_C) - _acc(a_G)) ** 2).sum() / (4 * n_H * n_W * n_C)


def unroll(a: Tensor) -> Tensor:
    """Unroll activations ``(m, n_C, n_H, n_W)`` (or ``(n_C, n_H, n_W)``) to ``A`` of shape
    ``(m, n_C, n_H·n_W)`` (or ``(n_C, n_H·n_W)``). Channels-last activations give a strided view,
    not a copy."""
    if a.dim() == 4 and not a.is_contiguous() and a.is_contiguous(memory_format=torch.channels_last):
        m, n_C, n_H, n_W = a.shape
        return a.permute(0, 2, 3, 1).reshape(m, n_H * n_W, n_C).transpose(1, 2)
    return a.reshape(*a.shape[:-2], a.shape[-2] * a.shape[-1])


# Positions per bfloat16 partial Gram (its rounding error shrinks with the block); 0 casts bfloat16
# activations to float32 first instead (the slower exact path, kept to measure against).
GRAM_BLOCK = 512


def _gram_bf16(A: Tensor) -> Tensor:
    """``A·Aᵀ`` of bfloat16 ``A`` ``(..., n_C, N)`` in float32: the product of the (positions ×
    channels) matrix ``X = Aᵀ`` with itself, block by block (``GRAM_BLOCK`` positions), each block
    in bfloat16 with float32 accumulation, the blocks summed in float32. ``X`` is contiguous when
    ``A`` unrolls channels-last activations, the layout oneDNN's bfloat16 products run fastest on;
    no float32 copy of the activations is made."""
    X = A.transpose(-1, -2)
    N, n_C = X.shape[-2:]
    batch = X.shape[:-2]
    K, L = N // GRAM_BLOCK, GRAM_BLOCK
    G = X.new_zeros((*batch, n_C, n_C), dtype=torch.float32)
    if K:
        X_b = X[..., : K * L, :].reshape(-1, L, n_C)  # (m·K, L, n_C)
        G += torch.bmm(X_b.transpose(1, 2), X_b).float().reshape(*batch, K, n_C, n_C).sum(-3)
    if K * L < N:
        R = X[..., K * L :, :]
        G += (R.transpose(-1, -2) @ R).float()
    return G


class _Gram(torch.autograd.Function):
    """``G = A·Aᵀ`` with the backward ``∂J/∂A = (dG + dGᵀ)·A`` as one product, in ``A``'s own
    layout (autograd's generic backward adds two products and transposes, which on large
    activations costs more than the convolutions). bfloat16 ``A`` stays bfloat16 both ways."""

    @staticmethod
    def forward(ctx, A: Tensor) -> Tensor:
        ctx.save_for_backward(A)
        if A.dtype == torch.bfloat16:
            return _gram_bf16(A)
        return A @ A.transpose(-1, -2)

    @staticmethod
    def backward(ctx, dG: Tensor) -> Tensor:
        (A,) = ctx.saved_tensors
        S = (dG + dG.transpose(-1, -2)).to(A.dtype)
        if A.stride(-2) == 1:  # A is a channels-last view: build the gradient in that layout too
            return (A.transpose(-1, -2) @ S).transpose(-1, -2)
        return S @ A


def gram_matrix(A: Tensor) -> Tensor:
    """``G = A·Aᵀ``.

    A: unrolled activations, shape ``(n_C, n_H·n_W)`` or batched ``(m, n_C, n_H·n_W)``.
    Returns G of shape ``(n_C, n_C)`` (or ``(m, n_C, n_C)``), in float32 (float64 for float64 input).
    bfloat16 ``A`` is multiplied as it is (see ``_gram_bf16``); other dtypes are cast first.
    """
    return _Gram.apply(A if A.dtype == torch.bfloat16 and GRAM_BLOCK else _acc(A))


def layer_style_cost(G_S: Tensor, a_G: Tensor) -> Tensor:
    """``J_style^l = 1/(4·n_C²·(n_H·n_W)²) · Σ_k Σ_k' (G^S_kk' − G^G_kk')²``.

    G_S: Gram matrix of the style image at this layer, computed once (see ``style_target``),
    shape ``(n_C, n_C)`` or ``(1, n_C, n_C)``.
    a_G: activations of the generated image at this layer, ``(m, n_C, n_H, n_W)``;
    ``G^G = gram_matrix(unroll(a_G))`` is formed here, in float32.
    """
    n_C, n_H, n_W = a_G.shape[-3:]
    if G_S.shape[-2:] != (n_C, n_C):
        raise ValueError(f"style Gram of shape {tuple(G_S.shape)} does not fit {n_C} channels")
    return gram_cost(G_S, gram_matrix(unroll(a_G)), n_C, n_H * n_W)


def gram_cost(G_S: Tensor, G_G: Tensor, n_C: int, n: int | Tensor) -> Tensor:
    """``1/(4·n_C²·n²) · Σ_k Σ_k' (G^S_kk' − G^G_kk')²``: a layer's style cost from the Gram
    matrices themselves, ``n`` the positions (or mask weight) ``G^G`` sums over. Painting in tiles
    sums ``G^G`` over the tiles first (``tiles.TiledObjective``)."""
    return ((_acc(G_S) - G_G) ** 2).sum() / (4 * n_C**2 * n**2)


def style_target(a_S: Tensor, n_H: int, n_W: int) -> Tensor:
    """The style Gram ``G^S`` rescaled to ``n_H·n_W`` positions.

    When the style image differs in size from the generated one (style scale, another aspect
    ratio) its Gram sums over a different number of positions; scaling by
    ``(n_H·n_W) / (n_H^S·n_W^S)`` makes it the Gram the same statistics would give at the
    generated image's size, which is what Gatys et al. compare. a_S: ``(m, n_C, n_H^S, n_W^S)``.
    """
    n_HS, n_WS = a_S.shape[-2:]
    return gram_matrix(unroll(a_S)) * ((n_H * n_W) / (n_HS * n_WS))


def style_cost(J_style_layers: Mapping[str, Tensor], lambdas: Mapping[str, float]) -> Tensor:
    """``J_style = Σ_l λ_l · J_style^l`` with the λ_l normalized to sum to 1.

    J_style_layers: layer name -> scalar ``J_style^l``. lambdas: layer name -> weight λ_l ≥ 0
    (any positive total; they are divided by their sum here).
    """
    if set(J_style_layers) != set(lambdas):
        raise ValueError("style layers and their weights name different layers")
    total = float(sum(lambdas.values()))
    if total <= 0:
        raise ValueError("style layer weights must have a positive sum")
    terms = [J_style_layers[l] * (lambdas[l] / total) for l in J_style_layers]
    return functools.reduce(operator.add, terms)  # as sum(), without its start 0 (a Tensor, never an int)


def total_cost(J_content: Tensor, J_style: Tensor, alpha: float, beta: float) -> Tensor:
    """``J(G) = α·J_content + β·J_style``."""
    return alpha * J_content + beta * J_style


def tv_cost(G: Tensor) -> Tensor:
    """Total-variation regularizer (not part of Gatys 2015; Mahendran & Vedaldi 2015, used by
    jcjohnson/neural-style): ``1/(n_C·n_H·n_W) · Σ ((G_{i+1,j} − G_{i,j})² + (G_{i,j+1} − G_{i,j})²)``.

    G: image ``(m, n_C, n_H, n_W)`` or ``(n_C, n_H, n_W)``, pixels in [0, 1]. A mean over
    pixels like the other costs, so its weight means the same at every size.
    """
    G = _acc(G)
    n_C, n_H, n_W = G.shape[-3:]
    d_h = (G[..., 1:, :] - G[..., :-1, :]) ** 2
    d_w = (G[..., :, 1:] - G[..., :, :-1]) ** 2
    return (d_h.sum() + d_w.sum()) / (n_C * n_H * n_W)


def guided_layer_style_cost(G_S: Tensor, a_G: Tensor, m: Tensor) -> Tensor:
    """Guided Gram cost of one region (Gatys et al. 2017 §4, spatial control):
    ``1/(4·n_C²·n_m²) · Σ (G^S − G^G_m)²`` with ``G^G_m = (A∘m)(A∘m)ᵀ`` and ``n_m = Σ m``.

    G_S: style Gram scaled to ``n_m`` positions, ``(n_C, n_C)``. a_G: ``(m, n_C, n_H, n_W)``.
    m: the region's mask at this layer's size, ``(1, 1, n_H, n_W)`` in [0, 1]. With ``m ≡ 1`` this
    is ``layer_style_cost``.
    """
    n_m = _acc(m).sum().clamp(min=1.0)
    return gram_cost(G_S, gram_matrix(unroll(_acc(a_G) * _acc(m))), a_G.shape[-3], n_m)


def mean_cov(a: Tensor, m: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Mean ``μ`` ``(n_C,)`` and covariance ``Σ`` ``(n_C, n_C)`` of activations ``(1, n_C, n_H, n_W)``
    over positions, weighted by the mask ``m`` ``(1, 1, n_H, n_W)`` when given."""
    A = unroll(_acc(a))[0]
    w = torch.ones_like(A[:1]) if m is None else unroll(_acc(m))[0]
    w = w / w.sum().clamp(min=1e-8)
    mu = (A * w).sum(-1)
    D = A - mu[:, None]
    return mu, (D * w) @ D.T


def sqrtm_psd(S: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix (eigendecomposition)."""
    vals, vecs = torch.linalg.eigh(S)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def layer_style_cost_w2(mu_S: Tensor, sqrt_Sigma_S: Tensor, a_G: Tensor, m: Tensor | None = None) -> Tensor:
    """Squared Wasserstein-2 distance between Gaussians fitted to the style's and the generated
    image's activations (the style statistic of crowsonkb/style-transfer-pytorch; Gatys compare
    Grams instead), divided by ``n_C``:
    ``(‖μ_S − μ_G‖² + tr Σ_S + tr Σ_G − 2·tr (Σ_S^½ Σ_G Σ_S^½)^½) / n_C``.

    mu_S ``(n_C,)`` and sqrt_Sigma_S ``(n_C, n_C)`` are computed once from the style image.
    """
    n_C = a_G.shape[-3]
    mu_G, Sigma_G = mean_cov(a_G, m)
    cross = sqrt_Sigma_S @ Sigma_G @ sqrt_Sigma_S
    # tr √M = Σ √λ(M); eigvalsh has a stable gradient, clamping guards tiny negative round-off.
    tr_sqrt = torch.linalg.eigvalsh(cross).clamp(min=1e-8).sqrt().sum()
    tr_S = (sqrt_Sigma_S**2).sum()  # tr Σ_S = ‖Σ_S^½‖_F²
    return ((mu_S - mu_G).pow(2).sum() + tr_S + Sigma_G.diagonal().sum() - 2 * tr_sqrt) / n_C


def temporal_cost(x: Tensor, w: Tensor, c: Tensor) -> Tensor:
    """Short-term temporal cost of a video frame (Ruder et al. 2016, "Artistic style transfer for
    videos", eq. 5): ``J_temporal = 1/D · Σ_k c_k·(x_k − w_k)²``, D = n_H·n_W·n_C.

    x: the frame being painted ``(1, n_C, n_H, n_W)``; w: the previous painted frame warped to this
    one by optical flow, same shape; c: per-pixel weights ``(1, 1, n_H, n_W)`` in [0, 1], 0 where
    the flow says the pixel was occluded or lies on a motion boundary. Returns a scalar.
    """
    x, w, c = _acc(x), _acc(w), _acc(c)
    return (c * (x - w) ** 2).sum() / x[0].numel()
