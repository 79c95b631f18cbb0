"""Runs: experiment specs, datasets, scoring, the runner and its executors, run directories and
their summaries. Above the engine."""
