"""XAPI simulator: an XML-RPC server speaking the XenAPI subset of XAPI.md over HTTP.

    with Simulator(inv, speed=1000) as sim:
        url = sim.urls[pool_uuid]         # the pool master's URL
        session = XenAPI.Session(url); session.xenapi.login_with_password("root", "secret")
        ...
        sim.audit()                       # one entry per migration attempt

See docs/simulator.md for the URL scheme, the record mapping, refusals and faults.
"""

from planner.sim.simulator import Simulator

__all__ = ["Simulator"]
