"""Dynamics: kernels of the one step protocol (Langevin/SGLD, kinetic Langevin (BAOAB), an exact readout draw to compose with either, SGD/Adam, MALA, mean-field Langevin),
SGLD on a two-layer network's posterior in one call, the divergence guard, objectives, step-size schedules and the chunked chain runner."""
from .kernel import Guarded, Kernel, guard
from .sgld import Hyper, LangevinInfo, LangevinState, langevin
from .kinetic_langevin import KineticHyper, KineticInfo, KineticState, critical_friction, kinetic_langevin
from .readout_gibbs import draw_readout, readout_conditional, with_readout_gibbs
from .adjusted_langevin import MALAInfo, MALAState, mala
from .objectives import TrainData, masked_train_data, mse_objective
from .network_posterior import (SAMPLERS, PosteriorSamples, Preconditioner, network_posterior_kernel, posterior_hyper,
                                posterior_multipliers, sample_posterior)
from .optimizers import OptInfo, OptState, optimizer_kernel
from .runner import RunResult, Trace, advance, initial_observations, run_chains, stack_chains, trajectory
from .schedules import constant, elapsed_time, exponential, make_schedule, polynomial_decay

__all__ = ["Kernel", "Guarded", "guard", "Hyper", "LangevinState", "LangevinInfo", "langevin", "KineticHyper", "KineticState", "KineticInfo", "kinetic_langevin", "critical_friction", "readout_conditional", "draw_readout", "with_readout_gibbs", "MALAState",
           "MALAInfo", "mala", "OptState", "OptInfo", "optimizer_kernel", "TrainData", "masked_train_data",
           "mse_objective", "PosteriorSamples", "network_posterior_kernel", "posterior_hyper", "Preconditioner", "posterior_multipliers", "SAMPLERS", "sample_posterior", "RunResult", "Trace", "advance", "trajectory", "run_chains", "stack_chains", "initial_observations", "constant",
           "polynomial_decay", "exponential", "make_schedule", "elapsed_time"]
