"""Running a plan against XAPI: pre-flight, the runner, its journal, backends, xe export.

See docs/executor.md; the layer sits above the planning code and below the CLI
(docs/architecture.md).
"""
