"""Experiments: configuration, presets, run directories, figures. The edge of the library."""
