"""`python -m benchmarks`: the scale ladder (see benchmarks/ladder.py)."""

from benchmarks.ladder import main

raise SystemExit(main())
