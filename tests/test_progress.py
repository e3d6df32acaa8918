"""Progress bars in an executed notebook: one clean line per bar, its final state.

A text tqdm bar redraws itself (``"\\r"`` and its state) at each update; in a kernel each
redraw is one more stderr output, and an executed copy (``tchexnet demo``, papermill) saved
every one of them. With ``$TCHEXNET_PLAIN_PROGRESS`` set, as :func:`runner.execute` sets it,
a bar of :func:`config.progress_bar` leaves its final state alone, on stdout.
"""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tchexnet_lib import config
from tchexnet_lib.tools import runner

BARS = """\
import time
from tchexnet_lib import config
for _ in config.progress_bar(range(40), desc="preflight", unit="file", mininterval=0):
    time.sleep(0.01)
with config.progress_bar(total=3, desc="features", unit="row", mininterval=0) as bar:
    for _ in range(3):
        bar.update(1)
with config.progress_bar(total=3, desc="gone", leave=False) as bar:
    bar.update(3)
print("done")
"""


def test_an_executed_copy_keeps_one_final_line_per_bar(tmp_path, monkeypatch):
    """In a real kernel, as the executed copies are made; each update is forced to redraw."""
    monkeypatch.setenv(config.PLAIN_PROGRESS, "1")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(BARS)])
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name=runner.KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = notebook.cells[0].outputs
    assert [o.name for o in outputs if o.output_type == "stream"] == ["stdout"] * len(outputs)
    lines = "".join(o.text for o in outputs).splitlines()
    assert len(lines) == 3 and "\r" not in "".join(lines), lines
    assert lines[0].startswith("preflight: 100%") and "40/40" in lines[0]
    assert lines[1].startswith("features: 100%") and "3/3" in lines[1]
    assert lines[2] == "done"  # a bar with leave=False leaves nothing


def test_the_final_line_stream_writes_a_bar_s_last_state_when_its_line_ends(capsys):
    """Outside a kernel (a command) to stderr: the command's stdout holds only its result."""
    stream = config._FinalLine()
    stream.write("\rbar:  10%")
    stream.write("\rbar:  50%")
    assert capsys.readouterr().err == ""
    stream.write("\rbar: 100%   \n")
    stream.write("\r      \r")  # a bar with leave=False clears its line: nothing to keep
    assert capsys.readouterr() == ("", "bar: 100%\n")
