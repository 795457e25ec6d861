"""The shape of the code (docs/architecture.md): imports go one way, down the layers;
no import cycles; every module says in its first docstring line what it is for.

The import graph is read from the source (ast), not by importing: every `import` and
`from ... import` of a project module counts, also those inside functions (a lazy import
is still a dependency), except under `if TYPE_CHECKING:` (annotations only, never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "solvers")

# Layers, lowest first. A module may import its own layer or any lower one, never a
# higher one. The longest matching prefix gives a module's layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # the package itself exports lazily by name (importlib), so it imports nothing
    (
        "base",
        (
            "planner",
            "planner.errors",
            "planner.limits",
            "planner.options",
            "planner.extra_keys",
            "planner.terminal",
            "planner.config",
            "planner.tls",
        ),
    ),
    (
        "model",
        (
            "planner.inventory",
            "planner.goals",
            "planner.durations",
            "planner.scenarios",
            "planner.moves",
        ),
    ),
    ("rules", ("planner.rules", "planner.ledger", "planner.ledger_migration")),
    (
        "problem",
        (
            "planner.problem",
            "planner.problem_candidates",
            "planner.problem_demands",
            "planner.problem_pruning",
            "planner.problem_arrays",
        ),
    ),
    ("solvers", ("solvers",)),
    (
        "plan",
        (
            "planner.plan",
            "planner.plan_json",
            "planner.plan_header",
            "planner.schema",
            "planner.schedule",
            "planner.describe",
            "planner.home",
            "planner.restart",
            "planner.advice",
        ),
    ),
    (
        "check",
        (
            "planner.check",
            "planner.check_types",
            "planner.check_flow",
            "planner.check_goal",
            "planner.explain",
        ),
    ),
    (
        "solve",
        (
            "planner.stepaside",
            "planner.stepaside_moves",
            "planner.solve",
            "planner.distributed",
            "planner.campaigns",
            "planner.whatif",
        ),
    ),
    ("report", ("planner.report", "planner.plots")),
    # rows: the one migrations table (step ids are the executor's journal ids)
    ("execute", ("planner.execute", "planner.sim", "planner.rows")),
    ("cli", ("planner.cli",)),
)


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The project module `name` denotes (a module, or a name inside one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> set[str]:
    """The project modules `module` imports at run time (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # `from pkg import sub` imports the submodule; `from mod import name` the module
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            names = []
        for name in names:
            owner = _owner(name)
            if owner is not None and owner != module:
                found.add(owner)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def layer_of(module: str) -> int:
    """Index of `module`'s layer in LAYERS (longest prefix wins)."""
    best, best_len = -1, -1
    for i, (_name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, todo = work[-1]
            if todo:
                w = todo.pop()
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, sorted(graph[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_graph_is_read():
    # guards against a walker that silently finds nothing
    assert len(MODULES) > 50
    assert "planner.rules" in GRAPH["planner.problem_candidates"]
    assert "solvers.base" in GRAPH["planner.solve"]
    assert "planner.inventory.model" in GRAPH["planner.rules.memory"]


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_has_a_layer():
    lost = [m for m in MODULES if layer_of(m) < 0]
    assert not lost, "no layer: " + ", ".join(lost)


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_imports_only_go_down():
    upward = sorted(
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in GRAPH.items()
        for t in targets
        if layer_of(t) > layer_of(m)
    )
    assert not upward, "\n".join(upward)


def test_every_module_says_what_it_is_for():
    missing = []
    for module, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or not doc.strip().splitlines()[0].strip():
            missing.append(module)
    assert not missing, "no first-line docstring: " + ", ".join(missing)


def test_layers_name_real_modules():
    # a layer entry that names nothing (a renamed module) would silently stop guarding
    stale = [
        p
        for _n, prefixes in LAYERS
        for p in prefixes
        if not any(m == p or m.startswith(p + ".") for m in MODULES)
    ]
    assert stale == []


MAX_MODULE_LINES = 500  # issue 15: a module a newcomer can read in one sitting


def test_no_module_is_over_500_lines():
    # the function bound (cyclomatic complexity 25) is ruff's C901 in pyproject.toml,
    # which `ruff check .` in .ci/run enforces
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
