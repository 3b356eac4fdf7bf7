"""The run framework, independent of any study: typed configuration (``config``), the preset
registry (``presets``), self-describing run directories with atomic writes and resumable cells
(``rundir``), the shared figure style (``style``) and sweeps over presets (``sweeps``)."""
