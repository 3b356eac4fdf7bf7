"""Learning tasks: data from explicit PRNG keys, with exact population quantities."""
from .base import Dataset, make_dataset, sample_inputs
from .hermite import HermiteDictionary, multi_index, single_index
from .parity import SparseParity, character
from .teacher import Teacher

__all__ = ["Dataset", "make_dataset", "sample_inputs", "SparseParity", "character", "HermiteDictionary",
           "single_index", "multi_index", "Teacher"]
