"""Run by tests/core/test_ddp.py, in one process or under ``torchrun``: train a BN-free MLP on the digits with each
method named on the command line (one global batch size and seed) and save the weights (rank 0)."""
from __future__ import annotations

import argparse
from functools import partial

import torch

from marginlib import augment, ddp, methods, models
from marginlib.data import load
from marginlib.train import fit

METHODS = {
    "standard": lambda: methods.Standard(),
    "pgd_at": lambda: methods.PGDAT(eps=0.1, steps=3),                    # uniform random starts
    "emr": lambda: methods.EMR(weight=0.05),                              # double backward
    "igr": lambda: methods.IGR(weight=0.05),
    "amm": lambda: methods.AMM(lam=0.5, c=2.0, d=1.0),                    # DeepFool inside the loss, double backward
    "mma": lambda: methods.MMA(d_max=0.3, norm="l2", steps=2),            # per-sample eps memory, subset draws
    "trades": lambda: methods.TRADES(eps=0.1, steps=2),                   # Gaussian initial noise
    "mail": lambda: methods.MAIL(eps=0.1, steps=2),                       # weights normalized over the batch
}


class Killed(Exception):
    pass


def main(out: str, names: list[str], *, kill_at: int | None = None, checkpoints: str | None = None,
         n: int = 96) -> None:
    if ddp.launched():
        ddp.init_from_env()
    torch.set_num_threads(1)
    train = load("digits", split="train", n=n, seed=0)
    weights = {}
    for name in names:
        model = models.build("mlp", input_size=8, hidden=[32], seed=0)
        method = METHODS[name.removesuffix("+augment")]()
        extra = {"augment": partial(augment.random_crop_flip, padding=1)} if name.endswith("+augment") else {}

        def kill(m, epoch):
            if epoch == kill_at:
                raise Killed

        history = fit(model, method, train, epochs=3, batch_size=32, lr=0.05, seed=7, device="cpu", progress=False,
                      eval_train=True, checkpoint_dir=f"{checkpoints}/{name}" if checkpoints else None,
                      callbacks={"kill": kill} if kill_at else None, **extra)
        weights[name] = {**model.state_dict(), "_loss": torch.tensor([r["loss"] for r in history.rows])}
        if isinstance(method, methods.MMA):
            weights[name]["_eps"] = method.eps.clone()
    if ddp.world()[0] == 0:
        torch.save(weights, out)
    ddp.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("methods", nargs="+", help="names in METHODS, optionally with +augment")
    parser.add_argument("--kill-at", type=int, help="raise at the end of this epoch (after its checkpoint)")
    parser.add_argument("--checkpoints", help="a folder for the runs' checkpoints")
    parser.add_argument("--samples", type=int, default=96, help="training samples (batches of 32)")
    a = parser.parse_args()
    main(a.out, a.methods, kill_at=a.kill_at, checkpoints=a.checkpoints, n=a.samples)
