"""The campaign planners: rebalance, target placement and rolling upgrade (docs/solving.md).

`dispatch` turns `planner solve` options into a campaign goal and calls its planner;
`common` holds the `Sequencer` they share.
"""
