"""depth-transfer: training the rate grid in batches gives the numbers of one call."""
import jax
import numpy as np

from mflab.networks.resnet import ResNet
from mflab.studies.depth.transfer import train_grid
from mflab.tasks.base import Dataset


def test_rate_batches_give_the_numbers_of_one_call():
    X = jax.random.normal(jax.random.key(0), (16, 4))
    y = np.tanh(np.asarray(X[:, 0]))
    ds = Dataset(X, y, X[:8], y[:8])
    net = ResNet.create(8, 2, "tanh", "depth-mup")
    keys = jax.random.split(jax.random.key(1), 2)
    lrs = [0.03, 0.1, 0.3, 0.6, 1.0]  # below the edge of stability, where rounding is not amplified
    whole = train_grid(net, ds, lrs, 4, keys, "sgd")
    parts = train_grid(net, ds, lrs, 4, keys, "sgd", rate_batch=2)
    assert whole["train_loss"].shape == (2, 5)
    for k in whole:
        np.testing.assert_allclose(parts[k], whole[k], rtol=1e-4, atol=1e-6, err_msg=k)
