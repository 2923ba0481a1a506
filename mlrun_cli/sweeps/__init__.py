"""Sweeps: a grid or random search over an entry point's parameters, as one resumable object."""
