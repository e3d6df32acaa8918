"""Colab, Kaggle and Binder: the links that open a notebook of the series there, and the one
``%pip install`` line a hosted notebook runs first.

The public repository's address is one setting, ``[project.urls] Repository`` in
``pyproject.toml`` (read from the installed package's metadata outside a checkout); every
link and the install line are built from it here. The install asks for ranges that Colab's
and Kaggle's runtimes already satisfy, so pip keeps their TensorFlow, Keras, numpy and
ipywidgets; only where no TensorFlow is installed does it add the ``[cpu]`` extra.
"""

from __future__ import annotations

import tomllib
from urllib.parse import quote

from tchexnet_lib import config

__all__ = [
    "HOSTS",
    "INSTALL_TAG",
    "badges_markdown",
    "install_cell_source",
    "install_line",
    "open_links",
    "repository_url",
]

#: Where a notebook can be opened, in the order the links are shown.
HOSTS: tuple[str, ...] = ("Colab", "Kaggle", "Binder")
#: The tag of each notebook's first code cell (the install line).
INSTALL_TAG = "install"
_BRANCH = "main"


def repository_url() -> str:
    """The public repository, ``https://github.com/OWNER/NAME``: ``pyproject.toml``'s
    ``[project.urls] Repository`` (in a checkout), else the installed package's metadata."""
    root = config.checkout_root()
    if root is not None:
        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        return project["urls"]["Repository"].rstrip("/")
    from importlib import metadata  # only outside a checkout

    for entry in metadata.metadata("tchexnet").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip().rstrip("/")
    raise LookupError("the installed tchexnet names no Repository URL in its metadata")


def _github_path() -> str:
    """``OWNER/NAME`` of :func:`repository_url` (GitHub is where the three hosts read from)."""
    url = repository_url()
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        raise ValueError(
            f"Colab, Kaggle and Binder open notebooks from GitHub; Repository is {url}"
        )
    return url.removeprefix(prefix)


def open_links(notebook: str) -> dict[str, str]:
    """Host → the address that opens ``notebooks/<notebook>.ipynb`` there (:data:`HOSTS` order)."""
    path, file = _github_path(), f"notebooks/{notebook.removesuffix('.ipynb')}.ipynb"
    blob = f"https://github.com/{path}/blob/{_BRANCH}/{file}"
    return {
        "Colab": f"https://colab.research.google.com/github/{path}/blob/{_BRANCH}/{file}",
        "Kaggle": f"https://kaggle.com/kernels/welcome?src={quote(blob, safe='')}",
        "Binder": f"https://mybinder.org/v2/gh/{path}/{_BRANCH}?labpath={quote(file, safe='')}",
    }


def badges_markdown(notebook: str) -> str:
    """One Markdown line of links: ``Open in [Colab](…) · [Kaggle](…) · [Binder](…)``."""
    links = open_links(notebook)
    return "Open in " + " · ".join(f"[{host}]({links[host]})" for host in HOSTS)


def install_line() -> str:
    """The ``%pip install`` line of a hosted notebook (``{extra}`` is set by the cell)."""
    return f'%pip install --quiet "tchexnet{{extra}} @ git+{repository_url()}"'


def install_cell_source() -> str:
    """The first code cell of every notebook: nothing where ``tchexnet_lib`` imports (a
    checkout, ``pip install tchexnet``, Binder); elsewhere one install that keeps the runtime's
    TensorFlow, Keras, numpy and ipywidgets (adding ``[cpu]`` only where TensorFlow is absent)."""
    return (
        "# Colab, Kaggle, Binder: install tchexnet once, keeping this runtime's TensorFlow, Keras,\n"
        "# numpy and ipywidgets (its requirements are ranges they already satisfy).\n"
        "try:\n"
        "    import tchexnet_lib\n"
        "except ImportError:\n"
        "    import importlib.util\n"
        '    extra = "" if importlib.util.find_spec("tensorflow") else "[cpu]"\n'
        f"    {install_line()}"
    )
