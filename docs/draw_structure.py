"""Draw the library's structure: the core and the tools as two blocks, every import an arrow.

``make structure`` writes ``docs/structure.png``. The rooms, their stages and the imports are
read as ``tests/test_layout.py`` reads them (the package docstrings' maps, each module's
``from tchexnet_lib… import``), so the drawing and the test cannot disagree; the PNG records
the graph's sha256, and a test checks that the committed drawing is current.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import test_layout  # noqa: E402  (the layout test's reading of the package)

OUT = ROOT / "docs" / "structure.png"
COLOURS = {"core": "#dbe9f6", "tools": "#fde5cc"}


def room_graph() -> dict[str, set[str]]:
    """Room → the rooms it imports at the top level (a subpackage is one room)."""
    graph: dict[str, set[str]] = {}
    for module, targets in test_layout.GRAPH.items():
        source = test_layout.room(module)
        graph.setdefault(source, set()).update(
            test_layout.room(t) for t in targets if test_layout.room(t) != source
        )
    return graph


def graph_sha256(graph: dict[str, set[str]], stages: dict[str, int]) -> str:
    """What the drawing shows, as one digest (stored in the PNG, compared by a test)."""
    record = {"stages": stages, "edges": {k: sorted(v) for k, v in sorted(graph.items())}}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def positions(stages: dict[str, int]) -> dict[str, tuple[float, float]]:
    """One row per stage, lowest at the bottom; the tools' rows above the core's."""
    rows: dict[int, list[str]] = {}
    for name, stage in sorted(stages.items()):
        rows.setdefault(stage + (1 if test_layout.is_tool(name) else 0), []).append(name)
    return {
        name: (i * 1.5 - (len(names) - 1) * 0.75, float(row))
        for row, names in rows.items()
        for i, name in enumerate(names)
    }


def _block(ax, places: dict, tools: bool) -> tuple[float, float]:
    """The block's rounded box and title; returns its (bottom, top)."""
    xs = [x for n, (x, _) in places.items() if test_layout.is_tool(n) == tools]
    ys = [y for n, (_, y) in places.items() if test_layout.is_tool(n) == tools]
    box = (min(xs) - 1.0, min(ys) - 0.55, max(xs) - min(xs) + 2.0, max(ys) - min(ys) + 1.2)
    ax.add_patch(
        FancyBboxPatch(
            box[:2],
            *box[2:],
            boxstyle="round,pad=0.1",
            zorder=0,
            ec="grey",
            fc=COLOURS["tools" if tools else "core"],
        )
    )
    title = "tools: tchexnet_lib.tools" if tools else "core: tchexnet_lib (what the lessons read)"
    ax.text(box[0] + 0.2, box[1] + box[3] - 0.3, title, fontsize=12, weight="bold")
    return box[1], box[1] + box[3]


def draw(out: Path = OUT) -> Path:
    """Draw the structure to ``out`` (PNG) and return it."""
    stages = test_layout.stages()
    graph = room_graph()
    places = positions(stages)
    fig, ax = plt.subplots(figsize=(11, 10))
    core_bottom, core_top = _block(ax, places, tools=False)
    tools_bottom, _ = _block(ax, places, tools=True)
    crossing = wrong = 0
    for source, targets in graph.items():
        for target in targets:
            from_tool, to_tool = test_layout.is_tool(source), test_layout.is_tool(target)
            crossing += from_tool and not to_tool
            wrong += to_tool and not from_tool
            colour = "red" if to_tool and not from_tool else "#7f8fa6"
            faint = from_tool != to_tool and colour != "red"
            ax.add_patch(
                FancyArrowPatch(
                    places[source],
                    places[target],
                    arrowstyle="-|>",
                    mutation_scale=8,
                    lw=0.7,
                    color=colour,
                    alpha=0.12 if faint else 0.45,
                    shrinkA=9,
                    shrinkB=9,
                    zorder=1,
                )
            )
    ax.annotate(
        f"{crossing} imports, all downward",
        xy=(-5.0, core_top + 0.05),
        xytext=(-5.0, tools_bottom - 0.05),
        ha="center",
        va="top",
        fontsize=10,
        arrowprops={"arrowstyle": "simple", "fc": "#9a6a3a", "ec": "none", "alpha": 0.8},
    )
    for name, (x, y) in places.items():
        ax.text(
            x,
            y,
            name.removeprefix("tools."),
            ha="center",
            va="center",
            fontsize=8.5,
            zorder=2,
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "grey"},
        )
    ax.set_xlim(-6.5, 6.5)
    ax.set_ylim(-1, max(y for _, y in places.values()) + 1)
    ax.axis("off")
    ax.set_title(
        "tchexnet_lib: each arrow an import, each row a stage of the maps; from the core to the "
        f"tools: {wrong}" + (" (in red)" if wrong else ""),
        fontsize=11,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    description = f"graph sha256 {graph_sha256(graph, stages)}"
    fig.savefig(out, dpi=100, bbox_inches="tight", metadata={"Description": description})
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw())
