"""Tests of the command line (planner/cli/): options, output, config, docs, report."""
