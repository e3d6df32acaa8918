"""Which static-site generator for ``make site``: each candidate measured on the executed series.

For each candidate (MkDocs + Material + mkdocs-jupyter; Jupyter Book 1.x, Sphinx; Jupyter Book
2.x, MyST) in a fresh virtual environment: the install (time, and the packages and megabytes it
adds beyond the project's environment), then a build of the same pages, the executed notebooks
as :func:`tchexnet_lib.tools.site.site_notebook` stages them (widgets drawn static), **with the
network cut** (``unshare -n`` where this user may, else proxies pointed at a closed port), its
time and result, the URLs its pages would fetch (:func:`site.site_problems`), and with
``--browser`` the console errors of each page opened from ``file://`` in headless Chromium.

    python benchmarks/site_generators.py [--notebooks outputs/notebooks] [--browser]
        [--json-out outputs/bench/site_generators.json]

Needs the package registry (the installs) and the executed series (``make demo``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

from tchexnet_lib import config, machine, notebooks
from tchexnet_lib.tools import site

CANDIDATES = {
    "mkdocs-material-jupyter": [
        "mkdocs==1.6.1",
        "mkdocs-material==9.8.1",
        "mkdocs-jupyter==0.26.3",
    ],
    "jupyter-book-1": ["jupyter-book==1.0.4.post1"],
    "jupyter-book-2": ["jupyter-book==2.1.7"],
}
#: Distribution name -> bytes, printed by a candidate's interpreter.
SIZES = """import importlib.metadata as md, json, os
out = {}
for d in md.distributions():
    size = 0
    for f in d.files or []:
        try: size += os.path.getsize(f.locate())
        except OSError: pass
    out[d.metadata["Name"].lower().replace("_", "-")] = size
print(json.dumps(out))"""


def offline(command: list[str]) -> tuple[list[str], dict]:
    """``command`` with the network cut: in a new network namespace, or behind a dead proxy."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        return ["unshare", "-n", *command], env
    dead = "http://127.0.0.1:9"
    return command, {
        **env,
        "http_proxy": dead,
        "https_proxy": dead,
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "no_proxy": "",
    }


def stage(source: Path, folder: Path) -> list[str]:
    """The executed notebooks as the site stages them, written to ``folder``; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [n for n in notebooks.SERIES if (source / f"{n}.ipynb").is_file()]
    pages = {f"{n}.ipynb": f"{n}.html" for n in names}
    for name in names:
        executed = nbformat.read(source / f"{name}.ipynb", as_version=4)
        nbformat.write(site.site_notebook(executed, name, pages), folder / f"{name}.ipynb")
    return names


def project(name: str, work: Path, source: Path) -> tuple[list[str], Path]:
    """Write the candidate's project around the staged notebooks: (build command, output)."""
    if name.startswith("mkdocs"):
        names = stage(source, work / "docs")
        (work / "docs" / "index.md").write_text("# tchexnet\n")
        nav = [{"Home": "index.md"}, *({n: f"{n}.ipynb"} for n in names)]
        (work / "mkdocs.yml").write_text(yaml.safe_dump(site.mkdocs_config(nav, "docs")))
        return [
            "bin/python",
            "-m",
            "mkdocs",
            "build",
            "-f",
            "mkdocs.yml",
            "-d",
            "html",
        ], work / "html"
    names = stage(source, work / "book")
    if name == "jupyter-book-1":
        (work / "book" / "_config.yml").write_text(
            yaml.safe_dump(
                {
                    "title": "tchexnet",
                    "execute": {"execute_notebooks": "off"},
                    "only_build_toc_files": True,
                }
            )
        )
        (work / "book" / "_toc.yml").write_text(
            yaml.safe_dump(
                {
                    "format": "jb-book",
                    "root": names[0],
                    "chapters": [{"file": n} for n in names[1:]],
                }
            )
        )
        return ["bin/jupyter-book", "build", "book"], work / "book" / "_build" / "html"
    (work / "book" / "myst.yml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "project": {"title": "tchexnet", "toc": [{"file": f"{n}.ipynb"} for n in names]},
                "site": {"template": "book-theme"},
            }
        )
    )
    return [
        "sh",
        "-c",
        "cd book && HOME=$PWD/.. ../bin/jupyter-book build --html --ci",
    ], work / "book" / "_build" / "html"


def console_errors(folder: Path) -> dict[str, int]:
    """Console errors of each page opened from ``file://`` in headless Debian Chromium.

    ``404.html`` aside: it is written for a server's root (absolute paths) and ``make site``
    drops it.
    """
    from playwright.sync_api import sync_playwright

    counts = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for page_file in sorted(set(folder.glob("*.html")) - {folder / "404.html"}):
            page, errors = browser.new_page(), []
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            counts[page_file.name] = len(errors)
            page.close()
        browser.close()
    return counts


def measure(
    name: str, packages: list[str], work: Path, source: Path, ours: set[str], browser: bool
) -> dict:
    """Install one candidate in a fresh venv under ``work``, build offline, inspect the pages."""
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(work)], check=True)
    start = time.perf_counter()
    install = subprocess.run(
        [str(work / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
        capture_output=True,
        text=True,
    )
    row = {
        "packages": packages,
        "install_s": round(time.perf_counter() - start, 1),
        "install_ok": install.returncode == 0,
    }
    if not row["install_ok"]:
        return {**row, "error": install.stderr.strip().splitlines()[-1:]}
    sizes = json.loads(
        subprocess.run(
            [str(work / "bin" / "python"), "-c", SIZES], capture_output=True, text=True, check=True
        ).stdout
    )
    added = {n: b for n, b in sizes.items() if n not in ours and n not in {"pip", "setuptools"}}
    row.update(added_packages=len(added), added_mb=round(sum(added.values()) / 1e6, 1))
    command, output = project(name, work, source)
    command, env = offline(command)
    start = time.perf_counter()
    build = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    row.update(
        build_s=round(time.perf_counter() - start, 1), offline_build_ok=build.returncode == 0
    )
    if build.returncode != 0:
        return {**row, "error": (build.stdout + build.stderr).strip().splitlines()[-4:]}
    problems = site.site_problems(output)
    row.update(
        network_fetches=sum("network" in p for p in problems),
        network_examples=[p for p in problems if "network" in p][:3],
    )
    if browser:
        errors = console_errors(output)
        row.update(console_errors=sum(errors.values()), pages=len(errors))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", default=str(config.output_dir("notebooks")))
    parser.add_argument("--work", default=str(config.output_dir("bench", "site-generators")))
    parser.add_argument("--browser", action="store_true", help="count console errors per page")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    ours = {
        d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()
    }
    ours -= {
        "mkdocs",
        "mkdocs-material",
        "mkdocs-jupyter",
        "mkdocs-get-deps",
        "mkdocs-material-extensions",
        "pymdown-extensions",
        "markdown",
        "jupytext",
        "backrefs",
        "ghp-import",
        "mergedeep",
        "paginate",
        "pathspec",
        "pyyaml-env-tag",
        "watchdog",
        "colorama",
        "mdit-py-plugins",
    }  # the site extra itself is what is measured
    results = {"machine": machine.machine_info(), "candidates": {}}
    start = time.perf_counter()
    built = site.build_site(args.notebooks, Path(args.work) / "site", require_current=False)
    results["make_site_s"] = round(time.perf_counter() - start, 1)
    print(
        f"this project's build (site.build_site, MkDocs): {results['make_site_s']} s, "
        f"{len(built.pages)} pages",
        flush=True,
    )
    for name, packages in CANDIDATES.items():
        row = measure(
            name, packages, Path(args.work) / name, Path(args.notebooks), ours, args.browser
        )
        results["candidates"][name] = row
        print(
            f"{name:<24} " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "packages"),
            flush=True,
        )
    results["model_bound_ips"] = round(machine.model_bound_images_per_second(), 1)
    print(f"model-bound: {results['model_bound_ips']} img/s (DenseNet-121, 224, batch 32)")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
