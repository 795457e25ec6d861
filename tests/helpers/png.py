"""Checks on rendered pictures shared by the figure, notebook and report tests."""

from __future__ import annotations

import io


def assert_not_blank(png: bytes) -> None:
    """A picture, not an empty canvas: pixels vary and a fair share is not white."""
    from matplotlib import image

    px = image.imread(io.BytesIO(png), format="png")[..., :3]
    assert px.shape[0] > 100 and px.shape[1] > 100, px.shape
    non_white = float((px.min(axis=2) < 0.95).mean())
    assert float(px.std()) > 0.05, "the image is nearly uniform"
    assert non_white > 0.02, f"only {non_white:.1%} of the pixels are not white"
