"""xen-planner benchmarks: `python -m benchmarks` runs the scale ladder
(benchmarks/ladder.py, docs/benchmarks.md); the other scripts still run on their own."""
