"""Tests of what-if analysis, scenarios, plots and notebooks (planner/whatif.py, plots.py)."""
