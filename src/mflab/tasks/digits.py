r"""scikit-learn's 8×8 handwritten digits (1797 images, 10 classes) as a regression task.

Inputs: the 64 pixel intensities, each standardised to mean 0 and variance 1 over the training
split (constant pixels stay 0), so ‖x‖² ≈ d as for the synthetic tasks. Targets: one-hot class
vectors (MSE on 10 outputs, mflab's loss without ½). Test accuracy is the argmax of the outputs.
The split is a seeded permutation. Needs the optional dependency ``pip install 'mflab[data]'``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .base import Dataset

N_DIGITS = 1797


@dataclass(frozen=True)
class Digits:
    """The digits task: d = 64 pixels, 10 one-hot outputs. Its split is fixed by ``seed``: the ``key`` of
    :meth:`dataset` is not used, and the test set is every image not used for training (``n_test`` is
    not used either)."""

    seed: int = 0
    name: str = "digits"
    d: int = 64

    def dataset(self, key, n_train: int, n_test: int | None = None, label_noise: float = 0.0) -> Dataset:
        if label_noise:
            raise ConfigError("label_noise", "the digits labels are classes", "use label_noise = 0")
        return load_digits_dataset(self.seed, n_train)


def load_digits_dataset(seed: int, n_train: int, dtype=np.float32) -> Dataset:
    """A seeded train/test split: ``n_train`` images for training, the rest for testing."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("tasks", "the digits dataset needs scikit-learn, which is not installed",
                          "pip install 'mflab[data]', or drop 'digits' from tasks") from None
    if not 1 <= n_train < N_DIGITS:
        raise ConfigError("n_train", f"must be in 1..{N_DIGITS - 1} for digits, got {n_train}",
                          "e.g. n_train = 512 (the rest is the test set)")
    data = load_digits()
    perm = np.random.default_rng(seed).permutation(N_DIGITS)
    X, labels = data.data[perm].astype(np.float64), data.target[perm]
    mean, std = X[:n_train].mean(0), X[:n_train].std(0)
    X = (X - mean) / np.where(std > 0, std, 1.0)
    Y = np.eye(10)[labels]
    return Dataset(X[:n_train].astype(dtype), Y[:n_train].astype(dtype), X[n_train:].astype(dtype),
                   Y[n_train:].astype(dtype))
