"""docs/cli.md documents every option of every command: its generated reference is
current, and a walk of the real command tree finds each option in its command's
section of that reference (so a new option cannot land undocumented)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from planner.cli import app, docgen

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _walk() -> list[tuple[str, object]]:
    out = []

    def walk(cmd, path):
        out.append((" ".join(("planner", *path)), cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def test_the_generated_reference_is_current():
    text = DOC.read_text(encoding="utf-8")
    assert docgen.BEGIN in text and docgen.END in text
    assert docgen.render(text) == text, "run: python -m planner.cli.docgen"
    assert docgen.main(["--check"]) == 0


def test_every_option_of_every_command_is_in_its_section():
    text = DOC.read_text(encoding="utf-8")
    ref = text.split(docgen.BEGIN, 1)[1]
    sections = dict(re.findall(r"### `([^`]+)`\n(.*?)(?=\n### |\Z)", ref, re.S))
    walked = _walk()
    n_options = 0
    for name, cmd in walked:
        opts = docgen.options_of(cmd)
        if not opts:
            continue
        assert name in sections, f"{name}: no section in docs/cli.md"
        for p in opts:
            for o in docgen.option_names(p):
                n_options += 1
                assert re.search(rf"`{re.escape(o)}[ `]", sections[name]), f"{name} {o}"
    # the walk is real: it saw the commands and options this issue added
    names = {n for n, _ in walked}
    assert {"planner solve", "planner execute", "planner inventory show"} <= names
    assert n_options > 120


def test_hand_written_sections_name_the_new_options():
    text = DOC.read_text(encoding="utf-8").split(docgen.BEGIN, 1)[0]
    for needle in (
        "--format table|json|csv",
        "-o -",
        "--pool NAME",
        "--ca-file PEM",
        "--fingerprint SHA256",
        "--log-file FILE",
        "--progress",
        "--version",
        "--install-completion",
        "XEN_PLANNER_CONFIG",
        "[defaults]",
    ):
        assert needle in text, needle
    assert "being added" not in text.lower()
