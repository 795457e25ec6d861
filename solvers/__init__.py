"""The solvers: functions over a frozen `planner.problem.Problem` (greedy, CP-SAT, the
lower bounds, decomposition into independent parts); they know nothing of plans.
"""
