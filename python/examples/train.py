"""Train a small logistic-regression classifier with numpy and register it with mreg.

    python train.py --lr 0.5 --epochs 40

Each run becomes a version of the model `clf`: params, per-epoch loss and accuracy curves,
final metrics, code lineage, Python environment, and the weights file.
"""

import argparse

import numpy as np
from safetensors.numpy import save_file

import mreg


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2000, 8)).astype(np.float32)
    true_w = np.linspace(-1, 1, 8).astype(np.float32)
    y = (x @ true_w + 0.1 * rng.standard_normal(2000) > 0).astype(np.float32)
    return x[:1600], y[:1600], x[1600:], y[1600:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    xtr, ytr, xva, yva = data()
    repo = mreg.Repo()
    with repo.run(model="clf", params=vars(args), message=f"logreg lr={args.lr}") as run:
        w, b = np.zeros(8, np.float32), np.float32(0)
        for epoch in range(args.epochs):
            p = 1 / (1 + np.exp(-(xtr @ w + b)))
            w -= args.lr * xtr.T @ (p - ytr) / len(ytr)
            b -= args.lr * np.mean(p - ytr)
            loss = -np.mean(ytr * np.log(p + 1e-9) + (1 - ytr) * np.log(1 - p + 1e-9))
            acc = np.mean(((xva @ w + b) > 0) == yva)
            run.log_metrics({"loss": loss, "val_acc": acc}, step=epoch)
        save_file({"w": w, "b": np.array([b], np.float32)}, "clf.safetensors")
        run.commit("clf.safetensors")
    print(run.result.id)


if __name__ == "__main__":
    main()
