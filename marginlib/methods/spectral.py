"""Spectral normalization of every layer at the end of each epoch (paper 004, App. B.4.2 / D.3: "following
Sedghi et al. (2018), we clip the spectral norm every epoch").

A layer's *spectral norm* here is the largest singular value of its linear map (:mod:`marginlib.spectrum`):
for a ``Linear`` layer its weight matrix; for a ``Conv2d`` the convolution **operator** on images, computed
exactly in Sedghi et al.'s setting, i.e. with **circular** (wrap-around) padding on the spatial size the layer
receives. That size is not a property of the weight: :class:`SpectralNorm` reads it from the first training
batch, :func:`spectral_normalize` takes a sample input ``x``.

Padding convention. The network's own convolutions use zero padding (or none). An unpadded ("valid")
convolution is a row selection of the circular operator on the same input size, so its norm is at most the
circular one and the clipped bound holds for the layer as it is used. A zero-padded convolution is a submatrix of
the circular operator on the *padded* grid, not on the input grid: its norm can differ from the circular one on
the input grid by a border effect (small for the book's 16x16 and 32x32 maps). The convention is the one of
:func:`marginlib.spectrum.layer_singular_values`, so the per-layer spectra paper 004 studies and the clipped
norms are measured on the same operator. A convolution followed by batch norm is rescaled by the batch norm
again: spectral normalization of such a network controls only the layers without it (paper 004 D.3 uses a
Fixup ResNet without batch norm for this reason).

Modes of :func:`spectral_normalize` (``mode=``):

``"clip"`` (default; Sedghi et al.)
    Every singular value of each layer's operator above ``target`` is set to ``target``: an exact SVD clip for
    ``Linear``; for ``Conv2d`` the frequency-domain projection of
    :func:`marginlib.spectrum.clip_conv_singular_values`, whose kernel is truncated back to its ``kh x kw``
    support as Sedghi et al. do. Truncation can leave the top singular value slightly above ``target``; such a
    layer is then rescaled by ``target / sigma``, so that every layer ends at most at ``target``. Layers whose
    norm is already at most ``target`` are left unchanged.
``"rescale"``
    A layer whose operator norm ``sigma`` exceeds ``target`` is multiplied by ``target / sigma`` (all its
    singular values shrink by the same factor); the others are left unchanged.
``"kernel"``
    The book's earlier convention, kept for comparison: every layer is rescaled so that the top singular value of
    its weight *reshaped* to ``(out, in * kh * kw)`` **equals** ``target``, scaling up as well as down. It is
    neither the paper's clipping nor a bound on the operator (a convolution's operator norm is typically 2-3x its
    reshaped kernel's).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from marginlib import spectrum, validate
from marginlib.context import unwrap
from marginlib.methods.base import Extends, Method, Stats, as_matrix, weight_layers

MODES = ("clip", "rescale", "kernel")


def spectral_norms(model: nn.Module) -> list[float]:
    """Top singular value of each Linear/Conv2d layer's *reshaped kernel* ``(out, in * kh * kw)`` (the
    ``mode="kernel"`` convention; for the operator norms use :func:`marginlib.spectrum.operator_norms`)."""
    return [float(torch.linalg.matrix_norm(as_matrix(layer.weight.detach()), ord=2)) for layer in weight_layers(model)]


def _conv_sizes(model: nn.Module, layers: Sequence[nn.Module], x: torch.Tensor | None,
                input_sizes: Sequence[tuple[int, int]] | dict[nn.Module, tuple[int, int]] | None,
                ) -> dict[nn.Module, tuple[int, int]]:
    if input_sizes is not None:
        if isinstance(input_sizes, dict):
            return dict(input_sizes)
        if len(input_sizes) != len(layers):
            raise ValueError(f"input_sizes must give one entry per weight layer ({len(layers)}), "
                             f"got {len(input_sizes)}")
        return {layer: s for layer, s in zip(layers, input_sizes) if isinstance(layer, nn.Conv2d)}
    if not any(isinstance(layer, nn.Conv2d) for layer in layers):
        return {}
    if x is None:
        raise ValueError("the operator norm of a convolution depends on its input size: pass a sample input x "
                         "(or input_sizes) to spectral_normalize")
    return spectrum.conv_input_sizes(model, x)


def _operator_norm(layer: nn.Linear | nn.Conv2d, size: tuple[int, int] | None) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return torch.linalg.matrix_norm(layer.weight.double(), ord=2)
    assert size is not None   # every convolution has one (checked by the caller)
    if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
        raise ValueError(f"{layer}: only groups=1, dilation=1 convolutions are supported")
    return spectrum.conv_singular_values(layer.weight.double(), size, stride=layer.stride)[0]


@torch.no_grad()
def spectral_normalize(model: nn.Module, *, target: float = 1.0, mode: str = "clip", x: torch.Tensor | None = None,
                       input_sizes: Sequence[tuple[int, int]] | dict[nn.Module, tuple[int, int]] | None = None,
                       ) -> None:
    """Normalize the spectral norm of every Linear/Conv2d layer of ``model`` in place (module docstring for the
    modes and the padding convention). ``x``: a sample input (one row is run) from which each convolution's
    input size is read; or ``input_sizes``, a ``{layer: (h, w)}`` dict or one entry per weight layer (ignored
    for ``Linear`` layers). Neither is needed for ``mode="kernel"`` or for a model without convolutions."""
    validate.positive("target", target)
    validate.choice("mode", mode, MODES)
    layers = weight_layers(model)
    if mode == "kernel":
        for layer in layers:
            sigma = torch.linalg.matrix_norm(as_matrix(layer.weight), ord=2)
            layer.weight.mul_(target / sigma.clamp_min(1e-12))
        return
    sizes = _conv_sizes(model, layers, x, input_sizes)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d) and layer not in sizes:
            raise ValueError(f"layer {i} ({layer}) has no input size (not reached by the forward pass on x?)")
        size = sizes.get(layer)
        sigma = _operator_norm(layer, size)
        if sigma <= target:
            continue
        if mode == "clip":
            if isinstance(layer, nn.Linear):
                u, s, vh = torch.linalg.svd(layer.weight.double(), full_matrices=False)
                layer.weight.copy_((u * s.clamp(max=target)) @ vh)
            else:
                assert size is not None
                layer.weight.copy_(spectrum.clip_conv_singular_values(layer.weight, size, target=target,
                                                                       stride=layer.stride))
            sigma = _operator_norm(layer, size)   # truncation to k x k (and float32) can leave it above target
            if sigma <= target:
                continue
        layer.weight.mul_(target / float(sigma))


class SpectralNorm(Extends):
    """``base`` objective with :func:`spectral_normalize` applied at the end of every epoch (paper 004 B.4.2).

    ``mode="clip"`` (default) is Sedghi et al.'s clipping of the operator's singular values; ``"rescale"`` and
    ``"kernel"`` as in :func:`spectral_normalize`. The convolutions' input sizes are read from the model's
    first training batch (one extra forward pass of one sample, without gradients)."""

    name = "spectral"

    def __init__(self, *, target: float = 1.0, mode: str = "clip", base: Method | None = None) -> None:
        super().__init__(base)
        self.target = validate.positive("target", target)
        self.mode = validate.choice("mode", mode, MODES)
        self._sizes: tuple[int, dict] | None = None

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        if self.mode != "kernel" and (self._sizes is None or self._sizes[0] != id(unwrap(model))):
            self._sizes = (id(unwrap(model)), spectrum.conv_input_sizes(model, x))
        return self.base.loss(model, x, y, index=index)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        super().after_epoch(model, epoch)
        sizes = None
        if self.mode != "kernel":
            if self._sizes is None or self._sizes[0] != id(model):
                raise RuntimeError("SpectralNorm needs a training batch (loss) before after_epoch, to read the "
                                   "convolutions' input sizes")
            sizes = self._sizes[1]
        spectral_normalize(model, target=self.target, mode=self.mode, input_sizes=sizes)

    def __repr__(self) -> str:
        return f"SpectralNorm(target={self.target}, mode={self.mode!r}, base={self.base!r})"
