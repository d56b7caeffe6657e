"""The package's layers, read from its imports (``ast``): arrows point only downwards, and there is no cycle.

1. the tutorial (``ezgan/*.py``: mnist, model, graph, train, sample and what they share);
2. the run engine (``ezgan/runs/``), on the tutorial;
3. the lab (``ezgan/lab/``), on both;
4. on top: the command line, the notebooks' helpers, ``tools/``.
Every import counts, those inside functions too.
"""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TOP_MODULES = {"ezgan.cli", "ezgan.__main__", "ezgan.notebook", "ezgan.diagrams"}
LAYERS = ("the tutorial", "the run engine", "the lab", "the top")


def module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module):
    if module.startswith("tools") or module in TOP_MODULES:
        return 3
    if module.startswith("ezgan.lab"):
        return 2
    if module.startswith("ezgan.runs"):
        return 1
    return 0


def modules():
    return {module_name(path): path for folder in ("ezgan", "tools") for path in (REPO / folder).rglob("*.py")}


def imports_of(path, known):
    """The project's modules that ``path`` imports (``from ezgan import x`` counts as ``ezgan.x`` if a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                         for alias in node.names)
    return {name for name in found if name in known}


def import_graph():
    known = modules()
    return {module: imports_of(path, known) - {module} for module, path in known.items()}


def test_the_layers_are_where_the_readme_says():
    known = modules()
    tutorial = {module for module in known if layer(module) == 0}
    assert {"ezgan.mnist", "ezgan.model", "ezgan.graph", "ezgan.train", "ezgan.sample"} <= tutorial
    assert all(module.count(".") <= 1 for module in tutorial), "the tutorial is ezgan/*.py, flat"
    assert {"ezgan.runs.training", "ezgan.lab.recipes"} <= set(known)


def test_every_import_points_down_or_sideways():
    upward = [f"{module} ({LAYERS[layer(module)]}) imports {imported} ({LAYERS[layer(imported)]})"
              for module, imported_modules in import_graph().items() for imported in sorted(imported_modules)
              if layer(imported) > layer(module)]
    assert upward == []


def test_no_import_cycle():
    graph = import_graph()
    state = {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(imported):] + [imported]))
            if imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_check_fails_on_an_upward_import(tmp_path):
    """The test above can fail: an import of the lab written into a tutorial module is found."""
    source = tmp_path / "train.py"
    source.write_text("def f():\n    from ezgan.lab.recipes import Recipe\n")
    known = modules()
    assert imports_of(source, known) == {"ezgan.lab.recipes"}
    assert layer("ezgan.lab.recipes") > layer("ezgan.train")


def test_the_tutorials_five_modules_read_in_one_sitting():
    lines = sum(len((REPO / "ezgan" / f"{name}.py").read_text().splitlines())
                for name in ("mnist", "model", "graph", "train", "sample"))
    assert lines <= 600
