"""The option reference of docs/cli.md, generated from the real command tree.

`python -m planner.cli.docgen` rewrites the part of docs/cli.md between the two marker
lines below; `--check` only says whether it is current (exit 1 when not). A test runs
the check, so a new option cannot land undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- BEGIN generated option reference (python -m planner.cli.docgen) -->"
END = "<!-- END generated option reference -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    """(path, click command) for `planner` and every (sub)command, in help order."""
    import typer

    from planner.cli import app

    out: list[tuple[tuple[str, ...], Any]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        out.append((path, cmd))
        for name in sorted(getattr(cmd, "commands", {})):
            walk(cmd.commands[name], (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(p: Any) -> str:
    if getattr(p, "is_flag", False) and not getattr(p, "secondary_opts", None):
        return "off" if not p.default else "on"
    d = p.default
    if d is None or d == () or d == [] or getattr(p, "required", False):
        return "required" if getattr(p, "required", False) else ""
    if getattr(p, "secondary_opts", None):  # --x/--no-x with an automatic default
        return ""
    return f"`{getattr(d, 'value', d)}`"


def _kind(default: Any) -> str:
    """A metavar for an option that names none, from its default's type."""
    if isinstance(default, bool):
        return ""
    if isinstance(default, int):
        return "N"
    if isinstance(default, float):
        return "NUMBER"
    if isinstance(default, Path):
        return "FILE"
    return "TEXT"


def options_of(cmd: Any) -> list[Any]:
    """The documented parameters of a click command: options, `--help` left out."""
    return [p for p in cmd.params if p.param_type_name == "option" and "--help" not in p.opts]


def option_names(p: Any) -> list[str]:
    return [*p.opts, *getattr(p, "secondary_opts", [])]


def reference() -> str:
    """The generated Markdown: one table per command, every option."""
    lines = [
        BEGIN,
        "",
        "## Option reference",
        "",
        "Every option of every command, generated from the command tree "
        "(`python -m planner.cli.docgen`; a test keeps it current). Defaults come "
        "from the config file's `[defaults]` when it sets them.",
        "",
    ]
    for path, cmd in _commands():
        opts = options_of(cmd)
        name = " ".join(("planner", *path))
        if getattr(cmd, "commands", None) and not opts:
            continue  # a group with nothing of its own (planner inventory, planner sim)
        lines += [f"### `{name}`", ""]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        if args:
            lines.append(
                "Arguments: "
                + ", ".join(
                    f"`{p.metavar or p.name.upper()}`" + ("" if p.required else " (optional)")
                    for p in args
                )
                + "."
            )
            lines.append("")
        lines += ["| option | default | meaning |", "|---|---|---|"]
        for p in opts:
            meta = "" if p.is_flag else f" {p.metavar or _kind(p.default)}"
            names = ", ".join(
                f"`{o}{meta if o == p.opts[-1] else ''}`" for o in option_names(p)
            ).replace("|", "\\|")
            lines.append(f"| {names} | {_default(p)} | {_cell(p.help or '')} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def render(doc: str) -> str:
    """`doc` with its generated part replaced (appended when it has none)."""
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + reference() + tail
    return doc.rstrip("\n") + "\n\n" + reference() + "\n"


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(
                f"{DOC}: the option reference is stale; run python -m planner.cli.docgen",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
