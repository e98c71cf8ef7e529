"""DistributedDataParallel for :func:`marginlib.train.fit`: the ranks, each rank's share of a batch, sums over ranks.

Under ``torchrun --nproc_per_node N`` every rank runs the same :func:`~marginlib.train.fit`: the same shuffled
order, the same global batches. Rank ``r`` trains on its share of each batch (:func:`share`, the ``r``-th of ``N``
nearly equal contiguous pieces); its loss is weighted by its share's size, so DDP's average of the ranks' gradients
is the gradient of the whole batch; the per-sample random draws are keyed by dataset position
(:mod:`marginlib.rng`), so a sample is perturbed and augmented as in one process. The weights then stay identical
on every rank, and the run trains the weights one process trains with the same global batch and seed (up to the
order of floating-point sums). Outside ``torchrun`` (no process group) every function here is the one-process case.
"""
from __future__ import annotations

import os

import torch
from torch import distributed as dist
from torch import nn


def world() -> tuple[int, int]:
    """``(rank, number of ranks)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched() -> bool:
    """True inside a ``torchrun`` launch with more than one process (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> torch.device:
    """Join the process group ``torchrun`` describes in the environment and return this rank's device: NCCL and
    ``cuda:LOCAL_RANK`` when CUDA is available, gloo and the CPU otherwise."""
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (nothing to wait for in one process)."""
    if world()[1] > 1:
        dist.barrier()


def close() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def share(index: torch.Tensor, *, rank: int, ranks: int) -> torch.Tensor:
    """Rank ``rank``'s share of a batch's dataset positions: the ``rank``-th of ``ranks`` contiguous pieces whose
    sizes differ by at most one (the whole batch for one rank)."""
    return index if ranks == 1 else index.tensor_split(ranks)[rank]


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` (its BatchNorm layers made ``SyncBatchNorm`` first on CUDA, in place,
    keeping the parameter objects, so an optimizer built on ``model`` still steps them). The wrapper broadcasts rank
    0's weights and buffers, so every rank starts from the same model."""
    if device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:
            raise ValueError("a model that is itself a BatchNorm layer cannot be trained with DistributedDataParallel")
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def all_sum(tensor: torch.Tensor, *, device: torch.device) -> torch.Tensor:
    """The sum of ``tensor`` over the ranks (sent from ``device``, which the backend needs), on its own device."""
    if world()[1] == 1:
        return tensor
    out = tensor.detach().to(device).clone()
    dist.all_reduce(out)
    return out.to(tensor.device)


def gather_batch(*tensors: torch.Tensor) -> tuple[list[torch.Tensor], slice]:
    """The whole batch from the ranks' shares: each tensor (rows = this rank's samples) concatenated over the ranks in
    rank order, which is the batch's order (:func:`share` cuts contiguous pieces), and the slice of this rank's rows
    in it. For batch-level choices that must see every sample (AMM's MIN selection); no gradient flows back."""
    rank, ranks = world()
    if ranks == 1:
        return [t.detach() for t in tensors], slice(0, len(tensors[0]))
    device = tensors[0].device
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(ranks)]
    dist.all_gather(sizes, torch.tensor([len(tensors[0])], device=device))
    counts = [int(s) for s in sizes]
    out = []
    for t in tensors:
        wire = t.detach().to(torch.float64) if t.dtype == torch.bool else t.detach()
        padded = wire.new_zeros((max(counts), *t.shape[1:]))
        padded[: len(t)] = wire
        parts = [torch.empty_like(padded) for _ in range(ranks)]
        dist.all_gather(parts, padded)
        whole = torch.cat([p[:c] for p, c in zip(parts, counts)])
        out.append(whole.bool() if t.dtype == torch.bool else whole)
    start = sum(counts[:rank])
    return out, slice(start, start + counts[rank])


def merge_rows(values: torch.Tensor, rows: torch.Tensor, *, n: int, device: torch.device) -> torch.Tensor:
    """A per-sample memory of ``n`` positions put together from the ranks: position ``i`` from the rank whose ``rows``
    (the positions it trained this epoch) hold it. Every position belongs to exactly one rank per epoch, so the
    sum over ranks of each rank's own rows (zeros elsewhere) is exact."""
    full = values.new_zeros((n, *values.shape[1:]))
    full[: min(n, len(values))] = values[:n]
    rows = rows.to(full.device)
    own = torch.zeros_like(full)
    own[rows] = full[rows]
    return all_sum(own, device=device)
