"""Run the notebooks top to bottom and save them with their outputs.

The notebooks are committed executed, so they read (figures included) on a code host
without running them. After changing a notebook or what it shows, run from the repository
root, in the project's environment:

    python notebooks/execute.py            # every notebook, in place
    python notebooks/execute.py 02-n-minus-1.ipynb

Each notebook runs in a fresh kernel with the notebooks directory as its working
directory. Timing metadata is dropped so a re-run changes only what the cells print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def execute(path: Path, timeout: int = 600) -> Any:
    """Execute the notebook at `path` in a fresh python3 kernel; return the executed
    notebook (an nbformat node). Raises nbclient's CellExecutionError on a failing cell."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    return nb


def main(argv: list[str]) -> int:
    import nbformat

    names = argv or sorted(p.name for p in HERE.glob("*.ipynb"))
    for name in names:
        path = HERE / Path(name).name
        nb = execute(path)
        nbformat.write(nb, path)
        print(f"executed {path.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
