"""Helpers for the real-browser test: a throw-away JupyterLab, and headless Chromium driving it.

JupyterLab runs on 127.0.0.1 (a free port, a random token) with its root, settings, data,
config and runtime folders all inside a temporary folder, so nothing of the user's is read or
written; the notebook is copied there too. Its only kernelspec, ``python3``, is this
interpreter (the venv's). Chromium is Debian's ``/usr/bin/chromium`` (``make browser-deps``),
driven by the PyPI ``playwright`` package: no browser download.

Every wait is bounded; :func:`stop_lab` always ends the server and its kernels.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HOST = "127.0.0.1"
#: Lab user settings: render every cell (no virtual scrolling), no network look-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


# --------------------------------------------------------------------------- prerequisites


def missing_tools() -> list[str]:
    """What the browser test lacks here, each with the command that installs it."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (run `make browser-deps`: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (run `make setup`: the dev extra pins it)")
    return missing


def require_tools() -> None:
    """Fail in CI (``CI=true``), skip elsewhere, when Chromium or Playwright is missing."""
    missing = missing_tools()
    if not missing:
        return
    message = "browser test needs " + "; ".join(missing)
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class LabServer:
    """A running JupyterLab; ``root`` is its root folder (notebooks go there)."""

    process: subprocess.Popen
    port: int
    token: str
    root: Path
    log_path: Path
    env: dict = field(repr=False, default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def notebook_url(self, relpath: str) -> str:
        return f"{self.base_url}/lab/tree/{relpath}?token={self.token}"

    def api(self, path: str, timeout: float = 10) -> object:
        """GET a Jupyter Server REST endpoint (``/api/...``) and decode its JSON."""
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- JupyterLab log ({self.log_path}), last {chars} chars ---\n{text[-chars:]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _lab_env(base: Path) -> dict:
    """Environment confining JupyterLab (and its kernels) to folders under ``base``."""
    folders = {name: base / name for name in ("settings", "data", "config", "runtime", "outputs")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name, value in LAB_SETTINGS.items():
        _write_json(folders["settings"] / f"{name}.jupyterlab-settings", value)
    # The only kernelspec outside sys.prefix: python3 is this interpreter, whatever PATH says.
    _write_json(
        folders["data"] / "kernels" / "python3" / "kernel.json",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (tchexnet venv)",
            "language": "python",
        },
    )
    env = dict(os.environ)
    env.update(
        {
            "JUPYTERLAB_SETTINGS_DIR": str(folders["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(folders["settings"] / "workspaces"),
            "JUPYTER_DATA_DIR": str(folders["data"]),
            "JUPYTER_CONFIG_DIR": str(folders["config"]),
            "JUPYTER_RUNTIME_DIR": str(folders["runtime"]),
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_PREFER_ENV_PATH": "0",  # our data dir (its python3 kernelspec) before sys.prefix
            "IPYTHONDIR": str(folders["config"] / "ipython"),
            "MPLCONFIGDIR": str(folders["config"] / "matplotlib"),
            "TCHEXNET_OUTPUT_DIR": str(folders["outputs"]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    for variable in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_DIR"):
        env.pop(variable, None)
    return env


def start_lab(base: Path, timeout: float = 90) -> LabServer:
    """Start JupyterLab with root ``base/root``; return once its REST API answers.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout`` seconds
            (the message carries its log); the process is ended first.
    """
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    env = _lab_env(base)
    port, token = free_port(), secrets.token_hex(24)
    log_path = base / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # A safety net should the finaliser never run: exit after 30 min without activity.
        "--ServerApp.shutdown_no_activity_timeout=1800",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.terminals_enabled=False",
    ]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LabServer(process, port, token, root, log_path, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}\n{server.log_tail()}")
        try:
            server.api("/api/status", timeout=2)
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    stop_lab(server)
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s\n{server.log_tail()}")


def stop_lab(server: LabServer, timeout: float = 20) -> None:
    """End JupyterLab and everything it started (kernels): SIGTERM, then SIGKILL the group."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # kernels left in the server's session
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def stage_notebook(source: Path, root: Path, parameters: dict | None = None) -> str:
    """Copy ``source`` into ``root/notebooks/`` (so the original is never saved over).

    With ``parameters``, papermill injects them after the notebook's ``parameters`` cell
    without running anything (``prepare_only``), as ``tchexnet_lib.tools.runner.execute`` does:
    the browser then runs the notebook a test shrank, never an edited source.

    Returns:
        Its path relative to ``root``, for :meth:`LabServer.notebook_url`.
    """
    target = root / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if parameters:
        import papermill

        papermill.execute_notebook(
            str(source), str(target), parameters=parameters, prepare_only=True, progress_bar=False
        )
    else:
        shutil.copyfile(source, target)
    return target.relative_to(root).as_posix()


# --------------------------------------------------------------------------- the browser


@contextlib.contextmanager
def chromium_page(
    viewport: tuple[int, int] = (1600, 1200), timeout_ms: int = 30_000
) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium; the browser is closed on exit.

    The page gets a ``console_errors`` list collecting the browser console's errors.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.console_errors = []
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            yield page
        finally:
            browser.close()


def kernel_state(page) -> str:
    """ "dialog" (a dialog covers the page), "idle", "busy", or "none" (no kernel, starting...).

    Read from the status bar's kernel item ("Python 3 (...) | Idle"): the toolbar's execution
    indicator already says idle while the notebook has no kernel yet.
    """
    return page.evaluate(KERNEL_STATE_JS)


KERNEL_STATE_JS = """() => {
    if (document.querySelector('.jp-Dialog')) return 'dialog';
    const item = document.querySelector("#jp-main-statusbar [title^='Change kernel']");
    const text = item ? item.textContent.trim() : '';
    if (!text || text.startsWith('No Kernel')) return 'none';
    if (text.endsWith('| Idle')) return 'idle';
    return text.endsWith('| Busy') ? 'busy' : 'none';
}"""


def wait_kernel_state(page, states: tuple[str, ...], timeout_ms: int) -> str:
    """Wait until :func:`kernel_state` is one of ``states``; return it."""
    script = f"() => {{ const s = ({KERNEL_STATE_JS})(); return {list(states)}.includes(s) && s; }}"
    return page.wait_for_function(script, timeout=timeout_ms, polling=250).json_value()


def open_notebook(page, server: LabServer, relpath: str, timeout_ms: int) -> None:
    """Open a notebook and wait for an idle kernel, accepting a kernel-selection dialog."""
    page.goto(server.notebook_url(relpath), wait_until="domcontentloaded", timeout=timeout_ms)
    if wait_kernel_state(page, ("idle", "dialog"), timeout_ms) == "dialog":
        dialog = page.locator(".jp-Dialog")
        dialog.locator(".jp-mod-accept").first.click()  # "Select" the preselected python3
        dialog.wait_for(state="detached", timeout=timeout_ms)
        wait_kernel_state(page, ("idle",), timeout_ms)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=timeout_ms)


def run_all_cells(page, timeout_ms: int) -> None:
    """Run > Run All Cells from the menu bar, as a learner would."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()
    # The kernel turns busy on the first cell; don't mistake the old "idle" for "done".
    with contextlib.suppress(Exception):
        page.wait_for_function(
            f"() => ({KERNEL_STATE_JS})() === 'busy' || {PROMPTS_BUSY_JS}", timeout=10_000
        )


PROMPTS_BUSY_JS = (
    "[...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*'))"
)


def wait_all_cells_done(page, timeout_ms: int) -> None:
    """Wait until no cell shows ``[*]`` and the kernel is idle."""
    page.wait_for_function(
        f"() => !({PROMPTS_BUSY_JS}) && ({KERNEL_STATE_JS})() === 'idle'",
        timeout=timeout_ms,
        polling=500,
    )


def counts(explorer) -> dict[str, int]:
    """The confusion-matrix counts shown in an explorer's metrics (``data-count`` cells)."""
    result = {}
    for key in ("tp", "fp", "fn", "tn"):
        text = explorer.locator(f".tchexnet-roc-metrics [data-count='{key}']").inner_text()
        result[key] = int(text.split()[-1])
    return result


def rates(explorer) -> dict[str, str]:
    """The rates table as shown: {"sensitivity": "0.850", "specificity": ..., ...}."""
    rows = explorer.locator(".tchexnet-roc-metrics table.tchexnet-rates tr")
    return {
        cells[0]: cells[1]
        for cells in (rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count()))
    }
