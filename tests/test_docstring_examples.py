"""The usage blocks in the docstrings of the public constructors run as written."""
import doctest
import importlib

import pytest

MODULES = ["mflab.dynamics.kernel", "mflab.dynamics.sgld", "mflab.dynamics.runner", "mflab.dynamics.adjusted_langevin",
           "mflab.dynamics.resnet_training", "mflab.framework.study", "mflab.networks.two_layer", "mflab.networks.resnet",
           "mflab.theory.mean_field", "mflab.dynamics.mean_field_langevin", "mflab.tasks.registry"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
