"""Shared plumbing below every other package: data sets, transforms, caches, atomic I/O,
command-line options and user-facing errors. Imports nothing else of this project."""
