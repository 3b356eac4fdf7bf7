"""Theory: Hermite calculus (``hermite``), infinite-width kernels (``kernels``), exact hypercube
spectra (``hypercube``) and kernel ridge regression (``krr``). Import the submodules directly."""
