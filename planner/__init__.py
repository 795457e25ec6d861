"""xen-planner: placement and planning for XenServer migration campaigns."""

__version__ = "0.1.0"
