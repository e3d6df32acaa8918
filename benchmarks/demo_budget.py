"""The demo's time budget: ``tchexnet demo`` from nothing, then again on the cached data and weights.

Runs the command as a user would (notebooks included) in a fresh temporary folder reached
through ``TCHEXNET_DATA_DIR`` / ``TCHEXNET_WEIGHTS_DIR`` / ``TCHEXNET_OUTPUT_DIR``, so nothing
under the checkout is touched or reused:

1. first run: draw the synthetic target set, features at 224×224 with the shipped demo CheXNet,
   the head, the comparison, Grad-CAM, notebooks 01–06 (nothing is pretrained);
2. rerun: the same command again, reusing the data, the feature stores and the head.

The budget is ≤ 360 s for the first run and ≤ 150 s for the rerun on the slow host of the
2-core CPU machine kind (DenseNet-121 at 224, batch 32: 8.8 img/s model-bound). Hosts differ
about 5× in that speed, so the JSON records the machine, its model-bound img/s measured here
first (:func:`tchexnet_lib.machine.model_bound_images_per_second`) and the load average around
each run. It also records the peak RSS of each process of a run
(:class:`tchexnet_lib.machine.PeakRss`): the study (the ``tchexnet demo`` process) and each
notebook's kernel, by notebook, against mybinder.org's 2 GB. Usage::

    .venv/bin/python benchmarks/demo_budget.py --json-out outputs/bench/demo_budget.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine_info, save  # noqa: E402  (the same machine record as make bench)

from tchexnet_lib import evaluation, machine  # noqa: E402  (no TensorFlow imported)

BUDGET_S = {"first_run": 360.0, "rerun": 150.0}
#: mybinder.org's memory limit (2 GB), which every process of the demo must stay under.
BUDGET_RSS_MB = 2000.0
#: Labels of the peak-RSS records: the ``tchexnet demo`` process, and the child that runs the
#: study (:func:`tchexnet_lib.tools.demo.run_in_child`).
DEMO, STUDY = "tchexnet demo", "study"
#: Unnamed processes below this peak (MB) are left out of ``peak_rss_mb``.
SMALL_MB = 50.0
#: The slow host's model-bound speed the budgets are set for (img/s).
SLOW_HOST_IMG_S = 8.8


def run_demo(env: dict[str, str], extra: list[str]) -> dict:
    """One ``tchexnet demo`` in a subprocess: wall seconds, exit status, the summary it wrote."""
    load = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.UTC)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tchexnet_lib.tools.cli", "demo", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with machine.PeakRss(process.pid) as watch:
        stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"tchexnet demo failed ({process.returncode}):\n{stderr[-3000:]}")
    outputs = Path(env["TCHEXNET_OUTPUT_DIR"])
    summary = json.loads((outputs / "demo" / "summary.json").read_text())
    ran = notebook_seconds(outputs / "notebooks", started)
    return {
        "seconds": round(seconds, 1),
        "loadavg_start": round(load, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "summary": summary,
        "notebook_seconds": ran,
        "peak_rss_mb": peak_rss_by_name(watch.peaks, ran),
        "total_peak_rss_mb": watch.total_peak_mb,
        "processes": watch.peaks,
        "table": stdout.strip().splitlines()[-4:],
    }


def peak_rss_by_name(peaks: list[dict], notebooks: dict[str, float | str]) -> dict[str, float]:
    """Peak RSS (MB) of ``tchexnet demo``, of the study's process and of each notebook's kernel.

    ``peaks``: :attr:`machine.PeakRss.peaks` of the ``tchexnet demo`` process (first) and its
    descendants. The study runs in a spawned child of it (``multiprocessing.spawn`` in its
    command line; the study's own workers are its children); kernels (``ipykernel``) are
    matched to the notebooks that ran (not reused), in order: the series runs one notebook
    at a time. Other descendants (the study's workers), or kernels that cannot be matched,
    keep their process name and pid; unnamed ones under :data:`SMALL_MB` (multiprocessing's
    resource tracker, a ``uname``) are left out (the run's ``processes`` keeps every one).
    """

    def has(record: dict, word: str) -> bool:
        return any(word in part for part in record["cmdline"])

    ran = [name for name, seconds in notebooks.items() if not isinstance(seconds, str)]
    kernels = [p["pid"] for p in peaks[1:] if has(p, "ipykernel")]
    names = dict(zip(kernels, ran)) if len(kernels) == len(ran) else {}
    names.update(
        {
            p["pid"]: STUDY
            for p in peaks[1:]
            if has(p, "multiprocessing.spawn") and p.get("ppid") == peaks[0]["pid"]
        }
    )
    result = {DEMO: peaks[0]["peak_mb"]} if peaks else {}
    for p in peaks[1:]:
        if p["pid"] in names or p["peak_mb"] >= SMALL_MB:
            result[names.get(p["pid"], f"{p['name'] or 'process'} {p['pid']}")] = p["peak_mb"]
    return result


def notebook_seconds(folder: Path, since: datetime.datetime) -> dict[str, float | str]:
    """Each notebook's run time in this run (papermill's stamps, kernel start included), or
    ``"reused"`` for an executed copy that was up to date and not run again."""
    times: dict[str, float | str] = {}
    for path in sorted(folder.glob("[0-9]*.ipynb")):
        meta = json.loads(path.read_text())["metadata"].get("papermill", {})
        if meta.get("start_time") and meta.get("end_time"):
            start, end = (
                datetime.datetime.fromisoformat(meta[k]) for k in ("start_time", "end_time")
            )
            if start.tzinfo is None:
                start, end = (t.replace(tzinfo=datetime.UTC) for t in (start, end))
            times[path.stem] = round((end - start).total_seconds(), 1) if end >= since else "reused"
    return times


def table(results: dict) -> str:
    """The runs against their budgets."""
    lines = [
        f"host: {results['machine']['cpu']}, model-bound {results['model_bound_img_s']} img/s "
        f"(budgets are for the slow host, {SLOW_HOST_IMG_S} img/s)",
        f"{'run':<10} {'seconds':>8} {'budget':>7}  load (start→end)",
    ]
    for name in ("first_run", "rerun"):
        run = results[name]
        verdict = "ok" if run["seconds"] <= BUDGET_S[name] else "OVER"
        lines.append(
            f"{name:<10} {run['seconds']:>8.0f} {BUDGET_S[name]:>7.0f}  "
            f"{run['loadavg_start']:.2f}→{run['loadavg_end']:.2f}  {verdict}"
        )
    for name in ("first_run", "rerun"):
        notebooks = results[name]["notebook_seconds"]
        if notebooks:
            lines.append(
                f"{name} notebooks: "
                + ", ".join(
                    f"{k[:2]} {v:.0f} s" if isinstance(v, float) else f"{k[:2]} {v}"
                    for k, v in notebooks.items()
                )
            )
    lines.extend(rss_table(results))
    models = results["first_run"]["summary"]["models"]
    lines.append(
        "AUC " + ", ".join(f"{name} {evaluation.format_auc(m)}" for name, m in models.items())
    )
    cam = results["first_run"]["summary"].get("gradcam") or {}
    if cam.get("n"):
        lines.append(
            f"Grad-CAM {cam['layer']} {cam['map_size']}: pointing {cam['pointing_hit_rate']:.2f}, "
            f"mass ratio {cam['mass_ratio_median']:.2f} (n = {cam['n']})"
        )
    return "\n".join(lines)


def rss_table(results: dict) -> list[str]:
    """Peak RSS per process and run, against mybinder.org's 2 GB ("-": no such process in
    that run, e.g. a notebook reused)."""
    runs = [name for name in ("first_run", "rerun") if name in results]
    names = list(dict.fromkeys(n for run in runs for n in results[run].get("peak_rss_mb", {})))
    lines = [
        f"peak RSS, MB (budget {BUDGET_RSS_MB:.0f}: mybinder.org's 2 GB; -: not run)",
        f"{'process':<28}" + "".join(f"{run:>11}" for run in runs),
    ]
    for name in names:
        cells = [results[run].get("peak_rss_mb", {}).get(name) for run in runs]
        over = any(c is not None and c > BUDGET_RSS_MB for c in cells)
        row = "".join(f"{c:>11.0f}" if c is not None else f"{'-':>11}" for c in cells)
        lines.append(f"{name:<28}{row}" + ("  OVER" if over else ""))
    totals = "".join(f"{results[run].get('total_peak_rss_mb', 0):>11.0f}" for run in runs)
    lines.append(f"{'all at once (sum, sampled)':<28}{totals}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out", type=Path, help="write the results here")
    parser.add_argument("--no-notebooks", action="store_true", help="time the study alone")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    extra = ["--no-notebooks"] if args.no_notebooks else []
    results = {
        "machine": machine_info(),
        "notebooks": not args.no_notebooks,
        "budget_s": BUDGET_S,
        "budget_rss_mb": BUDGET_RSS_MB,
        "model_bound_img_s": machine.model_bound_images_per_second(),
        "slow_host_img_s": SLOW_HOST_IMG_S,
    }
    print(
        f"model-bound DenseNet-121 at 224, batch 32: {results['model_bound_img_s']} img/s here "
        f"(slow host: {SLOW_HOST_IMG_S})",
        flush=True,
    )
    base = Path(tempfile.mkdtemp(prefix="tchexnet-demo-budget-"))
    env = {
        **os.environ,
        "TCHEXNET_DATA_DIR": str(base / "data"),
        "TCHEXNET_WEIGHTS_DIR": str(base / "weights"),
        "TCHEXNET_OUTPUT_DIR": str(base / "outputs"),
    }
    try:
        for name in ("first_run", "rerun"):
            results[name] = run_demo(env, extra)
            save(results, args.json_out)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    save(results, args.json_out)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
