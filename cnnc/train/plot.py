"""The learning curve: loss and accuracy per epoch, training and validation, as a PNG."""
from __future__ import annotations

import os


def plot_history(history, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")                      # no display needed
    import matplotlib.pyplot as plt

    epochs = [e.epoch for e in history.epochs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [e.loss for e in history.epochs], "o-", label="train")
    left.plot(epochs, [e.val_loss for e in history.epochs], "o-", label="validation")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    right.plot(epochs, [100 * e.acc for e in history.epochs], "o-", label="train")
    right.plot(epochs, [100 * e.val_acc for e in history.epochs], "o-", label="validation")
    if history.test:
        right.axhline(100 * history.test["acc"], color="grey", ls="--", label=f"test {history.test['acc']:.1%}")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
