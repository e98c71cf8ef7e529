"""Singular values of every layer of a network, convolutions included (used by spectral normalization and by
paper 004, Fig. 1a, 5c-d, App. B.2, whose summaries live in :mod:`marginlib.papers.p004_ar.spectra`).

Paper 004 compares, layer by layer, the standard deviation of the singular values of each layer's linear map
between networks trained with weak and strong adversarial training. For a fully connected layer the map is its
weight matrix. For a convolution the map acts on whole images, and its singular values are *not* those of the
reshaped kernel: :func:`conv_singular_values` computes them exactly with Sedghi, Gupta & Long (ICLR 2019,
"The Singular Values of Convolutional Layers", Theorem 6).

Conventions
-----------
* A convolution is the linear map ``x -> conv2d(x, weight, stride)`` on ``c_in x h x w`` inputs with **circular**
  (wrap-around) boundary: Sedghi et al.'s setting, where the operator is block doubly circulant and the 2-D DFT
  block-diagonalizes it. A network's zero-padded or unpadded convolution differs from it only at the image
  border (its matrix is a row and column selection of a circulant one; by Cauchy interlacing its singular values
  lie within the circular operator's range). The bias is not part of the map.
* Strided convolutions (stride ``s`` dividing ``h`` and ``w``) are reduced to stride 1 by the polyphase
  decomposition: the input splits into ``s * s`` subsampled phase images and the kernel into matching phase
  kernels, giving a stride-1 convolution with ``c_in * s * s`` input channels on an ``h/s x w/s`` grid.
* PyTorch's ``conv2d`` is a cross-correlation; a correlation and the matching convolution have the same singular
  values, so nothing is flipped.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from marginlib.context import model_device, noparamgrad_and_eval
from marginlib.models import weight_layers
from marginlib.models.base import pair

__all__ = ["clip_conv_singular_values", "conv_input_sizes", "conv_singular_values", "layer_singular_values",
           "operator_norms"]


def _polyphase(weight: Tensor, stride: tuple[int, int]) -> Tensor:
    """The stride-1 kernel ``(c_out, c_in * sh * sw, ceil(kh / sh), ceil(kw / sw))`` whose convolution of the phase
    images ``x[:, :, p::sh, q::sw]`` (stacked as channels ``c * sh * sw + p * sw + q``) equals the strided one."""
    sh, sw = stride
    c_out, c_in, kh, kw = weight.shape
    kh2, kw2 = -(-kh // sh), -(-kw // sw)
    padded = F.pad(weight, (0, kw2 * sw - kw, 0, kh2 * sh - kh))  # K[s*a + p] with a < kh2
    phases = padded.view(c_out, c_in, kh2, sh, kw2, sw).permute(0, 1, 3, 5, 2, 4)
    return phases.reshape(c_out, c_in * sh * sw, kh2, kw2)


def _unpolyphase(kernel: Tensor, stride: tuple[int, int], shape: Sequence[int]) -> Tensor:
    """The inverse of :func:`_polyphase`: the strided ``(c_out, c_in, kh, kw)`` kernel (``shape``) from its phase
    kernels, cropped to the ``kh x kw`` support."""
    sh, sw = stride
    c_out, c_in, kh, kw = shape
    kh2, kw2 = kernel.shape[2:]
    padded = kernel.reshape(c_out, c_in, sh, sw, kh2, kw2).permute(0, 1, 4, 2, 5, 3)
    return padded.reshape(c_out, c_in, kh2 * sh, kw2 * sw)[:, :, :kh, :kw]


def _stride_one_kernel(weight: Tensor, input_size: int | Sequence[int], stride: int | Sequence[int],
                       ) -> tuple[Tensor, tuple[int, int], tuple[int, int]]:
    """``(kernel, grid, stride)``: the stride-1 (polyphase) kernel of ``weight`` and the grid it acts on."""
    if weight.dim() != 4:
        raise ValueError(f"weight must be a (c_out, c_in, kh, kw) convolution kernel, got shape {tuple(weight.shape)}")
    h, w = pair("input_size", input_size)
    sh, sw = pair("stride", stride)
    if h % sh or w % sw:
        raise ValueError(f"stride={(sh, sw)} must divide input_size={(h, w)} for the circular operator")
    kernel = _polyphase(weight.detach(), (sh, sw)) if (sh, sw) != (1, 1) else weight.detach()
    grid = (h // sh, w // sw)
    if kernel.shape[2] > grid[0] or kernel.shape[3] > grid[1]:
        raise ValueError(f"kernel {tuple(weight.shape[2:])} (stride {(sh, sw)}) is larger than input_size={(h, w)}")
    return kernel, grid, (sh, sw)


def clip_conv_singular_values(weight: Tensor, input_size: int | Sequence[int], *, target: float,
                              stride: int | Sequence[int] = 1) -> Tensor:
    """Sedghi et al. (2019, §3 "Regularization"): project the circular convolution operator of ``weight`` onto
    the operators whose singular values are all at most ``target``, then truncate the kernel back to its own
    ``kh x kw`` support. Returns the new kernel (same shape and dtype as ``weight``).

    The projection is exact in the frequency domain: each ``c_out x c_in`` block ``P[u, v]`` of the kernel's
    2-D DFT on the ``h x w`` grid (:func:`conv_singular_values`) is replaced by ``U min(S, target) V^H``, and the
    inverse DFT gives an ``h x w`` kernel. That kernel generally has support outside ``kh x kw``; like Sedghi et
    al. we keep only the original support, which is no longer an exact projection: the truncated kernel's
    operator norm can be somewhat above ``target`` (callers that need the bound rescale afterwards, see
    :func:`marginlib.methods.spectral.spectral_normalize`). Strided kernels are clipped in the polyphase
    domain and mapped back. Computed in float64.
    """
    kernel, grid, (sh, sw) = _stride_one_kernel(weight.double(), input_size, stride)
    transfer = torch.fft.fft2(kernel.to(torch.complex128), s=grid).permute(2, 3, 0, 1)  # (gh, gw, c_out, c_in')
    u, s, vh = torch.linalg.svd(transfer, full_matrices=False)
    clipped = (u * s.clamp(max=float(target)).to(u.dtype)[..., None, :]) @ vh
    full = torch.fft.ifft2(clipped.permute(2, 3, 0, 1), s=grid).real      # (c_out, c_in', gh, gw)
    out = full[:, :, :kernel.shape[2], :kernel.shape[3]]
    if (sh, sw) != (1, 1):
        out = _unpolyphase(out, (sh, sw), weight.shape)
    return out.to(weight.dtype).contiguous()


def conv_singular_values(weight: Tensor, input_size: int | Sequence[int], *, stride: int | Sequence[int] = 1) -> Tensor:
    """All singular values of the circular convolution with kernel ``weight`` ``(c_out, c_in, kh, kw)`` acting on
    ``c_in x h x w`` inputs, sorted in descending order: ``(h/s) * (w/s) * min(c_out, c_in * s^2)`` values.

    Sedghi et al. (2019), Theorem 6: with ``P[u, v] = sum_{a, b} K[:, :, a, b] exp(-2 pi i (a u / h + b v / w))``
    (the 2-D DFT of the kernel zero-padded to ``h x w``), the singular values of the operator are the union over
    the ``h * w`` frequencies of the singular values of the ``c_out x c_in`` matrices ``P[u, v]``; all frequencies
    go to one batched ``torch.linalg.svdvals``. Strides go through the polyphase reduction (module docstring).
    """
    kernel, grid, _ = _stride_one_kernel(weight, input_size, stride)
    transfer = torch.fft.fft2(kernel.to(torch.complex128 if kernel.dtype == torch.float64 else torch.complex64),
                              s=grid)
    values = torch.linalg.svdvals(transfer.permute(2, 3, 0, 1))  # (gh, gw, min(c_out, c_in'))
    return values.flatten().sort(descending=True).values


def _conv_input_sizes(model: nn.Module, layers: Sequence[nn.Module], x: Tensor) -> dict[nn.Module, tuple[int, int]]:
    """The spatial size of the input each convolution in ``layers`` receives when ``model`` runs on ``x[:1]``."""
    sizes: dict[nn.Module, tuple[int, int]] = {}

    def record(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        h, w = args[0].shape[-2:]
        sizes.setdefault(module, (int(h), int(w)))

    hooks = [layer.register_forward_pre_hook(record) for layer in layers if isinstance(layer, nn.Conv2d)]
    try:
        with noparamgrad_and_eval(model), torch.no_grad():
            model(x[:1].to(model_device(model)))
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def conv_input_sizes(model: nn.Module, x: Tensor) -> dict[nn.Module, tuple[int, int]]:
    """The spatial input size ``(h, w)`` of every ``Conv2d`` weight layer of ``model`` on inputs like ``x``
    (one sample is run in eval mode without gradients; the model's mode is restored)."""
    return _conv_input_sizes(model, weight_layers(model), x)


def operator_norms(model: nn.Module, x: Tensor) -> list[float]:
    """Per weight layer, the largest singular value of its linear map: a ``Linear``'s weight matrix, a
    ``Conv2d``'s circular convolution operator on the input size it receives on ``x``
    (:func:`layer_singular_values`; module docstring for the conventions)."""
    return [float(v[0]) for v in layer_singular_values(model, x)]


def layer_singular_values(model: nn.Module, x: Tensor) -> list[Tensor]:
    """The singular values of every weight layer (:func:`marginlib.models.weight_layers` order), each sorted
    descending: a ``Linear``'s weight matrix, a ``Conv2d``'s circular convolution operator on the input size it
    receives when ``model`` runs on ``x`` (one sample is run; :func:`conv_singular_values`). Dilated or grouped
    convolutions raise ``ValueError``."""
    layers = weight_layers(model)
    sizes = _conv_input_sizes(model, layers, x)
    values = []
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            values.append(torch.linalg.svdvals(layer.weight.detach()))
            continue
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
            raise ValueError(f"layer {i} ({layer}): only groups=1, dilation=1 convolutions are supported")
        if layer not in sizes:
            raise ValueError(f"layer {i} ({layer}) is not reached by the forward pass on x")
        values.append(conv_singular_values(layer.weight, sizes[layer], stride=layer.stride))
    return values
