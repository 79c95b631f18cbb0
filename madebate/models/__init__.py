"""Models: the provider interface, the managed wrapper (retries, limits, cache, accounting) and
the built-in providers. Below the protocols and the engine; imports only the leaf modules."""
