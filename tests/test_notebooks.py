"""The notebooks run top to bottom on the bundled data and produce their figures."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# figures each notebook must leave in its namespace (matplotlib Figure objects)
FIGURES = {
    "01-evacuate-a-host.ipynb": ["gantt", "memory"],
    "02-n-minus-1.ipynb": ["heat"],
    "03-new-hardware.ipynb": ["gantt", "memory"],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_and_draws(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "notebooks are committed without outputs"
    )
    check = "\n".join(
        [
            "from matplotlib.figure import Figure as _F",
            f"_figs = {FIGURES[name]!r}",
            "_bad = [n for n in _figs if not isinstance(globals().get(n), _F)]",
            "assert not _bad, _bad",
            "assert all(globals()[n].axes and (globals()[n].axes[0].patches"
            " or globals()[n].axes[0].images) for n in _figs)",
        ]
    )
    nb.cells.append(nbformat.v4.new_code_cell(check))
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any failure
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
