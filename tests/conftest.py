"""Shared fixtures: deterministic, single-threaded torch for reproducible CPU tests."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _job_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The sections' training jobs go to a cache of this test session (``$MARGINLIB_CACHE``), never the checkout's."""
    import os

    from marginlib import jobs

    os.environ[jobs.CACHE_ENV] = str(tmp_path_factory.mktemp("job-cache"))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def cuda() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return torch.device("cuda")


@pytest.fixture(scope="session")
def trained_digits() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A 64-64-10 ReLU MLP trained for about a second on the first 1200 of sklearn's digits (8x8 in [0, 1];
    ~96% held-out accuracy), in eval mode, and the 597 held-out images with their labels. Shared: read it only."""
    from sklearn.datasets import load_digits
    from torch import nn

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[:1200]), y[:1200]).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval(), x[1200:], y[1200:]
