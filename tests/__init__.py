"""xen-planner tests: laid out like the package (see tests/README.md)."""
