"""machine.PeakRss: the peak memory of a process tree, as `make bench-demo` reports it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tchexnet_lib import machine

MB = 10**6

#: A child that holds 300 MB for a moment, frees it, then starts a grandchild that holds 150 MB.
#: The grandchild is started by a parent whose peak was 300 MB: its own peak must still read
#: ~150 MB (ru_maxrss would read ≥ 300 MB there).
CHILD = textwrap.dedent("""
    import subprocess, sys, time
    def hold(mb):
        block = bytearray(b"x") * (mb * 10**6)  # written, so resident
        time.sleep(0.6)
        return len(block)
    hold(int(sys.argv[1]))
    if len(sys.argv) > 2:
        subprocess.run([sys.executable, "-c", GRANDCHILD, sys.argv[2]],
                       check=True)
""")
GRANDCHILD = (
    "import sys, time; block = bytearray(b'x') * (int(sys.argv[1]) * 10**6); time.sleep(0.6)"
)


def test_peak_rss_of_a_child_and_its_grandchild_each_near_what_it_held():
    code = CHILD.replace("GRANDCHILD", repr(GRANDCHILD))
    process = subprocess.Popen([sys.executable, "-c", code, "300", "150"])
    with machine.PeakRss(process.pid, interval=0.05) as watch:
        assert process.wait(timeout=60) == 0
    peaks = watch.peaks
    assert [p["pid"] for p in peaks][0] == process.pid and len(peaks) == 2, peaks
    child, grandchild = (p["peak_mb"] * MB for p in peaks)
    # the interpreter itself adds ~10-30 MB; the block dominates
    assert 300 * MB <= child < 380 * MB, peaks
    assert 150 * MB <= grandchild < 230 * MB, peaks
    assert all(p["cmdline"] and p["started"] > 0 for p in peaks)
    # never both blocks at once: the sum peaks with the child's block (plus two interpreters)
    assert 300 * MB <= watch.total_peak_mb * MB < 420 * MB, watch.total_peak_mb


def test_a_process_that_execs_a_new_program_is_measured_afresh():
    # 300 MB held, then os.execv into a small interpreter: the new program's peak is its own
    code = (
        "import os, sys, time; block = bytearray(b'x') * (300 * 10**6); time.sleep(0.6); "
        "os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(0.6)'])"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    with machine.PeakRss(process.pid, interval=0.05) as watch:
        assert process.wait(timeout=60) == 0
    (record,) = watch.peaks
    assert record["cmdline"][-1] == "import time; time.sleep(0.6)", record
    assert record["peak_mb"] < 100, record


def test_peak_rss_bytes_of_this_process_and_of_none():
    here = machine.peak_rss_bytes(os.getpid())
    assert here is not None and here[0] > 10 * MB
    assert machine.peak_rss_bytes(2**22 + 12345) is None  # above Linux's pid_max default


def test_demo_budget_names_the_study_and_each_kernel_by_its_notebook():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "demo_budget.py"
    spec = importlib.util.spec_from_file_location("demo_budget", path)
    budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(budget)
    kernel = ["python", "-m", "ipykernel_launcher", "-f", "kernel.json"]
    study = ["python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main()"]
    peaks = [
        {
            "pid": 10,
            "name": "python",
            "cmdline": ["python", "-m", "tchexnet_lib.tools.cli", "demo"],
            "peak_mb": 250.0,
        },
        {"pid": 13, "ppid": 10, "name": "python", "cmdline": study, "peak_mb": 1500.0},
        {"pid": 14, "ppid": 13, "name": "python", "cmdline": study, "peak_mb": 200.0},
        {"pid": 11, "name": "python", "cmdline": kernel, "peak_mb": 900.0},
        {"pid": 12, "name": "python", "cmdline": kernel, "peak_mb": 2100.0},
        {"pid": 15, "ppid": 10, "name": "uname", "cmdline": ["uname", "-p"], "peak_mb": 1.7},
    ]
    ran = {
        "01_data_exploration": "reused",
        "02_chexnet_inference": 50.0,
        "03_feature_extraction": 80.0,
    }
    names = budget.peak_rss_by_name(peaks, ran)
    assert names == {
        budget.DEMO: 250.0,
        budget.STUDY: 1500.0,
        "python 14": 200.0,
        "02_chexnet_inference": 900.0,
        "03_feature_extraction": 2100.0,
    }
    table = budget.rss_table({"first_run": {"peak_rss_mb": names}})
    assert [line.endswith("OVER") for line in table[2:7]] == [False] * 4 + [True], table
    # a kernel more or less than the notebooks that ran: named by process, never mislabelled
    assert "02_chexnet_inference" not in budget.peak_rss_by_name(peaks[:4], ran)
