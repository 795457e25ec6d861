"""The notebooks: committed with their outputs, and they run top to bottom on the
bundled data with every figure cell showing a picture (an image/png output)."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import pytest

from tests.helpers.png import assert_not_blank

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# the figure each notebook's figure cells end with (the cell's last line names it)
FIGURES = {
    "01-evacuate-a-host.ipynb": ["gantt", "memory"],
    "02-n-minus-1.ipynb": ["heat", "heat_after", "two_pools"],
    "03-new-hardware.ipynb": ["gantt", "memory"],
}


def _execute_module():
    spec = importlib.util.spec_from_file_location("nb_execute", NOTEBOOKS / "execute.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _figure_cells(nb) -> dict[str, dict]:
    """Figure name -> the code cell whose last line is that name."""
    out = {}
    for c in nb.cells:
        if c.cell_type == "code" and c.source.strip():
            last = c.source.strip().splitlines()[-1].strip()
            out.setdefault(last, c)
    return out


def _pngs(cell) -> list[bytes]:
    return [
        base64.b64decode(o["data"]["image/png"])
        for o in cell.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]


def test_notebooks_are_committed_with_their_outputs():
    for name, figures in FIGURES.items():
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        counts = [c.get("execution_count") for c in code]
        assert counts == list(range(1, len(code) + 1)), (
            f"{name}: not run top to bottom in one kernel before committing "
            "(python notebooks/execute.py)"
        )
        assert all(c.get("outputs") for c in code), f"{name}: a code cell has no output"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: committed with an error"
        cells = _figure_cells(nb)
        for fig in figures:
            pngs = _pngs(cells[fig])
            assert len(pngs) == 1, f"{name}: cell ending in {fig!r} has {len(pngs)} pictures"
            assert_not_blank(pngs[0])


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_and_every_figure_cell_shows_a_png(name):
    nb = _execute_module().execute(NOTEBOOKS / name, timeout=240)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    cells = _figure_cells(nb)
    for fig in FIGURES[name]:
        pngs = _pngs(cells[fig])
        # exactly one: a figure that showed twice (pyplot and the repr) would be two
        assert len(pngs) == 1, f"cell ending in {fig!r}: {len(pngs)} image/png outputs"
        assert_not_blank(pngs[0])
        text = [
            o
            for o in cells[fig].outputs
            if "text/plain" in o.get("data", {}) and "image/png" not in o.get("data", {})
        ]
        assert not text, f"cell ending in {fig!r} printed a repr instead of a picture"
