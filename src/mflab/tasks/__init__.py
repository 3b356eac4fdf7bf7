"""Learning tasks: data from explicit PRNG keys, with exact population quantities."""
from .base import Dataset, SyntheticTask, Task, make_dataset, sample_inputs
from .digits import Digits
from .hermite import HermiteDictionary, multi_index, single_index
from .parity import SparseParity, character
from .registry import build_task, check_task_name, register_task, task_names
from .teacher import Teacher

__all__ = ["Dataset", "Task", "SyntheticTask", "make_dataset", "sample_inputs", "SparseParity", "character",
           "HermiteDictionary", "single_index", "multi_index", "Teacher", "Digits", "build_task", "check_task_name",
           "register_task", "task_names"]
