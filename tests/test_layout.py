"""The library's rooms: the package docstring's map is true, imports point down it, no cycle.

Every module (the synthetic subpackage's too) lists its public names in ``__all__``; a module
imports only modules of earlier stages of the map in ``tchexnet_lib/__init__.py``; an import
inside a function is there for start-up cost (it says why on its line), never to dodge a cycle;
no module outgrows one room; the notebooks use only public names.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
import inspect
import re
from pathlib import Path

import nbformat
import pytest

import tchexnet_lib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tchexnet_lib"
# Formatted lines (ruff format, line length 100): a module past this is two rooms.
MAX_LINES = 1100


def module_name(path: Path) -> str:
    """Dotted name below the package: ``synthetic/canvas.py`` → ``synthetic.canvas``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if path not in (PACKAGE / "__init__.py", PACKAGE / "tools" / "__init__.py")
}


def imported_modules(node: ast.ImportFrom) -> set[str]:
    """The tchexnet_lib modules one ``from tchexnet_lib… import …`` statement names."""
    base = (node.module or "").removeprefix("tchexnet_lib").lstrip(".")
    names = {f"{base}.{alias.name}" if base else alias.name for alias in node.names}
    return {name if name in MODULES else base for name in names} - {""}


def imports(path: Path) -> tuple[set[str], list[tuple[int, set[str]]]]:
    """(modules imported at the top level, [(line, modules) imported inside functions])."""
    tree = ast.parse(path.read_text())
    top, inner = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tchexnet_lib"):
            if node in tree.body:
                top |= imported_modules(node)
            else:
                inner.append((node.lineno, imported_modules(node)))
    return top, inner


GRAPH = {name: imports(path)[0] for name, path in MODULES.items()}


def numbered_rooms(doc: str) -> dict[str, int]:
    """Room → stage number, read from the numbered lines of a package docstring."""
    found = {}
    for number, text in re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |^\S|\Z)", doc, re.M | re.S):
        for name in re.findall(r"``(\w+)``", text.split(":")[0]):
            found[name] = int(number)
    return found


def stages() -> dict[str, int]:
    """Room → stage: the core's map (``tchexnet_lib``), then the tools' (``tchexnet_lib.tools``),
    each tool a room of its own at the core's ``tools`` stage plus its own line."""
    core = numbered_rooms(tchexnet_lib.__doc__)
    tools_stage = core.pop("tools")
    tools_map = numbered_rooms(importlib.import_module("tchexnet_lib.tools").__doc__)
    return core | {f"tools.{name}": tools_stage + n for name, n in tools_map.items()}


def room(module: str) -> str:
    """``synthetic.canvas`` → ``synthetic`` (a subpackage is one room); ``tools.cli`` stays."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "tools" else parts[0]


def is_tool(module: str) -> bool:
    return module.split(".")[0] == "tools"


def test_the_package_docstring_maps_every_room_once():
    rooms = {room(name) for name in MODULES}
    assert set(stages()) == rooms
    synthetic_map = importlib.import_module("tchexnet_lib.synthetic").__doc__
    inside = {name.split(".")[1] for name in MODULES if name.startswith("synthetic.")}
    assert {name for name in inside if f":mod:`.{name}`" not in synthetic_map} == set()


def test_no_import_cycle():
    list(graphlib.TopologicalSorter(GRAPH).static_order())  # raises CycleError on a cycle
    assert "tools.demo" not in GRAPH["pipeline"] and "pipeline" in GRAPH["tools.demo"]


def test_the_core_never_imports_a_tool():
    """Two blocks, one direction: tools → core (the structure drawing's only arrows)."""
    upward = []
    for name, path in MODULES.items():
        if not is_tool(name):
            top, inner = imports(path)
            reached = top | set().union(*(modules for _, modules in inner))
            upward += [f"{name} imports {target}" for target in sorted(reached) if is_tool(target)]
    assert upward == []


def test_imports_point_down_the_stages():
    stage = stages()
    upward = []
    for name, path in MODULES.items():
        top, inner = imports(path)
        for target in top | set().union(*(modules for _, modules in inner)):
            if room(target) != room(name) and stage[room(target)] >= stage[room(name)]:
                upward.append(
                    f"{name} (stage {stage[room(name)]}) imports {target} "
                    f"(stage {stage[room(target)]})"
                )
    assert upward == []


def reaches(start: str, goal: str) -> bool:
    """Whether ``start`` imports ``goal`` at the top level, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(GRAPH.get(current, ()))
    return False


def test_imports_inside_functions_save_start_up_time_and_say_so():
    """Moving any of them to the top could not make a cycle, and each line says why it waits."""
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for line_number, modules in imports(path)[1]:
            for target in modules:
                assert not reaches(target, name), (
                    f"{name}:{line_number} dodges a cycle via {target}"
                )
            assert "#" in lines[line_number - 1], f"{name}:{line_number}: say why it waits"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_lists_its_public_names(name):
    module = importlib.import_module(f"tchexnet_lib.{name}")
    assert module.__doc__, f"{name} has no docstring"
    assert module.__all__ == sorted(module.__all__)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []
    defined = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert defined - set(module.__all__) == set()


def test_no_module_outgrows_one_room():
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


#: More parameters than this and a group of them travels together: an options object.
MAX_PARAMETERS = 7


def parameter_count(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller can pass (``self`` and ``cls`` aside; ``*args``, ``**kwargs`` one each)."""
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    names = names[1:] if names[:1] in (["self"], ["cls"]) else names
    return len(names) + (arguments.vararg is not None) + (arguments.kwarg is not None)


def test_no_function_takes_more_than_seven_parameters():
    """Every function and method of every module, public or private (issue #22: long
    parameter lists become options objects)."""
    long = [
        f"{name}.{node.name} (line {node.lineno}): {parameter_count(node)}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and parameter_count(node) > MAX_PARAMETERS
    ]
    assert long == []


def test_notebooks_use_only_public_names():
    private = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(
            cell.source
            for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code"
        )
        code = re.sub(r"^\s*[%!].*$", "", code, flags=re.M)  # IPython magics
        used = {
            (node.value.id, node.attr)
            for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in {room(name) for name in MODULES}
        }
        for module_name_, attribute in sorted(used):
            module = importlib.import_module(f"tchexnet_lib.{module_name_}")
            if attribute not in module.__all__:
                private.append(f"{notebook.stem}: {module_name_}.{attribute}")
    assert private == []


def test_notebooks_never_rebind_a_module_name():
    """``splits = {...}`` after ``from tchexnet_lib import splits`` would break the next call."""
    rooms = {room(name) for name in MODULES}
    rebound = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(
            cell.source
            for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code"
        )
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", code, flags=re.M))
        stored = {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
        }
        rebound += [f"{notebook.stem}: {name}" for name in sorted(stored & rooms)]
    assert rebound == []


def test_notebooks_import_only_the_core():
    """The lessons read the core; a notebook's run key (runner.run_key) hashes only the core's
    sources, so an executed copy stays current across edits of the tools: true only while no
    notebook's code imports one."""
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(
            cell.source
            for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code"
        )
        assert "tchexnet_lib.tools" not in code, notebook.stem


def test_the_structure_drawing_is_current():
    """docs/structure.png (``make structure``) records the graph it drew; redraw after a move."""
    import sys

    from PIL import Image

    sys.path.insert(0, str(ROOT / "docs"))
    import draw_structure

    drawn = Image.open(ROOT / "docs" / "structure.png").text.get("Description", "")
    current = draw_structure.graph_sha256(draw_structure.room_graph(), stages())
    assert drawn == f"graph sha256 {current}", "the drawing is stale: run `make structure`"
