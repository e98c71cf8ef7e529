"""Spectral normalization of every layer at the end of each epoch (paper 004, B.4.2, after Sedghi et al.)."""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.methods.base import Extends, Method, as_matrix, weight_layers


def spectral_norms(model: nn.Module) -> list[float]:
    """Top singular value of each Linear/Conv2d layer's matrix view (out, in * kh * kw)."""
    return [float(torch.linalg.matrix_norm(as_matrix(l.weight.detach()), ord=2)) for l in weight_layers(model)]


@torch.no_grad()
def spectral_normalize(model: nn.Module, *, target: float = 1.0, clip: bool = False) -> None:
    """Rescale every Linear/Conv2d weight so that the top singular value of its matrix view equals
    ``target`` (paper 004 B.4.2 "renormalizes the spectral norms ... to a designated value"); with
    ``clip=True`` only layers above ``target`` are scaled down (Sedghi et al.'s clipping). Convention: a
    convolution's norm is that of its reshaped kernel, not of the convolution operator on images."""
    validate.positive("target", target)
    for layer in weight_layers(model):
        sigma = torch.linalg.matrix_norm(as_matrix(layer.weight), ord=2)
        scale = target / sigma.clamp_min(1e-12)
        if clip:
            scale = scale.clamp(max=1.0)
        layer.weight.mul_(scale)


class SpectralNorm(Extends):
    """``base`` objective with :func:`spectral_normalize` applied at the end of every epoch (paper 004)."""

    name = "spectral"

    def __init__(self, *, target: float = 1.0, clip: bool = False, base: Method | None = None) -> None:
        super().__init__(base)
        self.target = validate.positive("target", target)
        self.clip = clip

    def loss(self, model, x, y, *, index=None):
        return self.base.loss(model, x, y, index=index)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        super().after_epoch(model, epoch)
        spectral_normalize(model, target=self.target, clip=self.clip)

    def __repr__(self) -> str:
        return f"SpectralNorm(target={self.target}, clip={self.clip}, base={self.base!r})"
