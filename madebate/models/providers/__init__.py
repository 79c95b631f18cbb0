"""Model providers. Each registers a factory under the prefix of its model ids."""
