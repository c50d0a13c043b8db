"""The benchmark harness: a run side by side with a sequential script."""
