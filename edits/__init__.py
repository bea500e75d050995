"""Repair orchestration: choose the layer, build and solve the program, verify, report."""
