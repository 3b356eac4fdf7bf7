r"""scikit-learn's 8×8 handwritten digits (1797 images, 10 classes) as a regression task.

Inputs: the 64 pixel intensities, each standardised to mean 0 and variance 1 over the training
split (constant pixels stay 0), so ‖x‖² ≈ d as for the synthetic tasks. Targets: one-hot class
vectors (MSE on 10 outputs, mflab's loss without ½). Test accuracy is the argmax of the outputs.
The split is a seeded permutation. Needs the optional dependency ``pip install 'mflab[data]'``.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Dataset

N_DIGITS = 1797


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
