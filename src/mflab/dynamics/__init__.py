"""Dynamics: Langevin kernels, objectives, schedules, and the chunked chain runner."""
from .langevin import Hyper, Kernel, LangevinState, langevin
from .objectives import TrainData, masked_train_data, mse_objective
from .runner import RunResult, Trace, initial_observations, run_chains
from .schedules import constant, exponential, make_schedule, polynomial

__all__ = ["Hyper", "Kernel", "LangevinState", "langevin", "TrainData", "masked_train_data", "mse_objective",
           "RunResult", "Trace", "run_chains", "initial_observations", "constant", "polynomial", "exponential",
           "make_schedule"]
