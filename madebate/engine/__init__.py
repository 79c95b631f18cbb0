"""The discussion engine: settings, paradigms, personas, the turn loop and its extensions
(baselines, challenge, drift judge). Above the protocols and the models."""
