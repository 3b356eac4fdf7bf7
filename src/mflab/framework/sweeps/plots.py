r"""The figure of a sweep's main table: its first numeric variables against the first sweep axis.

One panel per variable (at most four: the documented ones first, in the table's column order; constant ones,
``*_std`` and ``run_seconds`` left out), x = the first sweep axis with more than one value (log scale when it
spans a decade, categories when it is not numeric), one line per value of the next sweep axis with more than
one value, else of the table's next index (at most eight lines), the mean over every other dimension
(replicas, seeds, the remaining axes) at each point. The caption says which dimensions
were averaged, so that nothing is hidden in a line.
"""
from __future__ import annotations

import numpy as np

from .dataset import dim_name

MAX_PANELS, MAX_LINES = 4, 8


def _label(ds, name: str) -> str:
    units = ds[name].attrs.get("units")
    return f"{name} [{units}]" if units else name


def main_table_figure(ds, axes: list[str], title: str):
    """The figure described in the module docstring for dataset ``ds`` (one table of a sweep); ``axes``: the
    sweep's axes, spanned and batched, as config fields."""
    from ..style import plt

    dims = [d for d in [*(dim_name(a) for a in axes), *ds.dims] if d in ds.dims and ds.sizes[d] > 1]
    if not dims:
        raise ValueError("every dimension has a single value: nothing to plot against")
    x = dims[0]
    names = [v for v in ds.data_vars if v != "run_seconds" and not v.endswith("_std") and ds[v].dtype.kind in "fiu"
             and x in ds[v].dims and np.nanmax(ds[v].values) > np.nanmin(ds[v].values)]
    names = sorted(names, key=lambda v: "description" not in ds[v].attrs)[:MAX_PANELS]  # stable: column order kept
    # a batched axis (a list field the preset runs in one go) is a column of the table: its dimension is the
    # field's last name (sgld.kappa -> kappa)
    sweep_dims = [d for a in axes for d in (dim_name(a), a.split(".")[-1]) if d in ds.dims and d != x]
    if not names:
        raise ValueError(f"no numeric variable varies along {x}")
    fig, panels = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.8), squeeze=False)
    xs = ds[x].values
    numeric = xs.dtype.kind in "fiu"
    pos = xs if numeric else np.arange(len(xs))
    averaged = set()
    for ax, v in zip(panels[0], names):
        da = ds[v]
        others = [d for d in da.dims if d != x]
        line_dim = next((d for d in [*sweep_dims, *others] if d in others and da.sizes[d] > 1), None)
        rest = [d for d in others if d != line_dim]
        averaged.update(d for d in rest if da.sizes[d] > 1)
        mean = da.mean(rest, skipna=True) if rest else da
        if line_dim is None:
            ax.plot(pos, mean.transpose(x).values, marker="o")
        else:
            for val in mean[line_dim].values[:MAX_LINES]:
                ax.plot(pos, mean.sel({line_dim: val}).transpose(x).values, marker="o", label=f"{line_dim} = {val}")
            ax.legend(fontsize=7, loc="best")
        if not numeric:
            ax.set_xticks(pos, [str(s) for s in xs])
        elif np.all(xs > 0) and xs.max() >= 10 * xs.min():
            ax.set_xscale("log")
        ax.set(xlabel=_label(ds, x), ylabel=_label(ds, v), title=v)
    fig.suptitle(title)
    note = ("each point: the mean over " + ", ".join(sorted(averaged))) if averaged else "no dimension averaged"
    fig.text(0.5, 0.005, note + "; missing points (not finished) are gaps", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig
