"""Sweeps: grid/zip/seed specifications over a preset (``spec``), the content-addressed crash-safe
point store (``store``), local and Dask executors (``executors``), the driver (``runner``) and the
tidy/xarray dataset (``dataset``)."""
