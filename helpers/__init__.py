"""Shared plumbing: data sets, transforms, checkpoints, atomic I/O and user-facing errors."""
