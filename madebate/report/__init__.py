"""The HTML report of a run directory, its plots and paradigm drawings. Above the runs."""
