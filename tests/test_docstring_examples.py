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


def test_every_public_class_and_constructor_has_a_docstring():
    """Public classes of every mflab module say what they are (a dataclass's generated "Name(fields)" does
    not count), and so do their ``create`` constructors."""
    import inspect
    import pkgutil

    import mflab

    missing = []
    for info in pkgutil.walk_packages(mflab.__path__, "mflab."):
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or not inspect.isclass(obj) or obj.__module__ != mod.__name__:
                continue
            doc = (obj.__doc__ or "").strip()
            if not doc or doc.startswith(f"{name}("):
                missing.append(f"{mod.__name__}.{name}")
            create = vars(obj).get("create")
            if create is not None and not (getattr(create, "__func__", create).__doc__ or "").strip():
                missing.append(f"{mod.__name__}.{name}.create")
    assert not missing, missing
