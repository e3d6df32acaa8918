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
each run. Usage::

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
from tchexnet_lib import evaluation  # noqa: E402  (no TensorFlow: AUC text only)

BUDGET_S = {"first_run": 360.0, "rerun": 150.0}
#: The slow host's model-bound speed the budgets are set for (img/s).
SLOW_HOST_IMG_S = 8.8


def run_demo(env: dict[str, str], extra: list[str]) -> dict:
    """One ``tchexnet demo`` in a subprocess: wall seconds, exit status, the summary it wrote."""
    load = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tchexnet_lib.cli", "demo", *extra], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"tchexnet demo failed ({done.returncode}):\n{done.stderr[-3000:]}")
    outputs = Path(env["TCHEXNET_OUTPUT_DIR"])
    summary = json.loads((outputs / "demo" / "summary.json").read_text())
    return {"seconds": round(seconds, 1), "loadavg_start": round(load, 2),
            "loadavg_end": round(os.getloadavg()[0], 2), "summary": summary,
            "notebook_seconds": notebook_seconds(outputs / "notebooks", started),
            "table": done.stdout.strip().splitlines()[-4:]}


def notebook_seconds(folder: Path, since: datetime.datetime) -> dict[str, float | str]:
    """Each notebook's run time in this run (papermill's stamps, kernel start included), or
    ``"reused"`` for an executed copy that was up to date and not run again."""
    times: dict[str, float | str] = {}
    for path in sorted(folder.glob("[0-9]*.ipynb")):
        meta = json.loads(path.read_text())["metadata"].get("papermill", {})
        if meta.get("start_time") and meta.get("end_time"):
            start, end = (datetime.datetime.fromisoformat(meta[k]) for k in ("start_time", "end_time"))
            if start.tzinfo is None:
                start, end = (t.replace(tzinfo=datetime.timezone.utc) for t in (start, end))
            times[path.stem] = round((end - start).total_seconds(), 1) if end >= since else "reused"
    return times


def table(results: dict) -> str:
    """The runs against their budgets."""
    lines = [f"host: {results['machine']['cpu']}, model-bound {results['model_bound_img_s']} img/s "
             f"(budgets are for the slow host, {SLOW_HOST_IMG_S} img/s)",
             f"{'run':<10} {'seconds':>8} {'budget':>7}  load (start→end)"]
    for name in ("first_run", "rerun"):
        run = results[name]
        verdict = "ok" if run["seconds"] <= BUDGET_S[name] else "OVER"
        lines.append(f"{name:<10} {run['seconds']:>8.0f} {BUDGET_S[name]:>7.0f}  "
                     f"{run['loadavg_start']:.2f}→{run['loadavg_end']:.2f}  {verdict}")
    for name in ("first_run", "rerun"):
        notebooks = results[name]["notebook_seconds"]
        if notebooks:
            lines.append(f"{name} notebooks: " + ", ".join(
                f"{k[:2]} {v:.0f} s" if isinstance(v, float) else f"{k[:2]} {v}" for k, v in notebooks.items()))
    models = results["first_run"]["summary"]["models"]
    lines.append("AUC " + ", ".join(f"{name} {evaluation.format_auc(m)}" for name, m in models.items()))
    cam = results["first_run"]["summary"].get("gradcam") or {}
    if cam.get("n"):
        lines.append(f"Grad-CAM {cam['layer']} {cam['map_size']}: pointing {cam['pointing_hit_rate']:.2f}, "
                     f"mass ratio {cam['mass_ratio_median']:.2f} (n = {cam['n']})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out", type=Path, help="write the results here")
    parser.add_argument("--no-notebooks", action="store_true", help="time the study alone")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    extra = ["--no-notebooks"] if args.no_notebooks else []
    from tchexnet_lib import machine

    results = {"machine": machine_info(), "notebooks": not args.no_notebooks, "budget_s": BUDGET_S,
               "model_bound_img_s": machine.model_bound_images_per_second(),
               "slow_host_img_s": SLOW_HOST_IMG_S}
    print(f"model-bound DenseNet-121 at 224, batch 32: {results['model_bound_img_s']} img/s here "
          f"(slow host: {SLOW_HOST_IMG_S})", flush=True)
    base = Path(tempfile.mkdtemp(prefix="tchexnet-demo-budget-"))
    env = {**os.environ, "TCHEXNET_DATA_DIR": str(base / "data"),
           "TCHEXNET_WEIGHTS_DIR": str(base / "weights"), "TCHEXNET_OUTPUT_DIR": str(base / "outputs")}
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
