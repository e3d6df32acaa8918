"""How much the demo's numbers depend on the draw of the target set, and on the CPU's kernels.

The demo's assertions (tests/test_demo.py) must not rest on one lucky draw: this script runs
``tchexnet demo --no-notebooks --json`` on target sets drawn with other seeds (same generator,
same shipped demo CheXNet, same recipe) and prints the AUCs, the DeLong p and the Grad-CAM
scores side by side. ``--onednn-isa AVX2`` runs the same demos with oneDNN restricted to AVX2
kernels (``ONEDNN_MAX_CPU_ISA``): other float reductions, as on an AVX2-only host, so the AUCs
can be compared to 3 decimals across two code paths on one machine. Usage::

    .venv/bin/python benchmarks/demo_seeds.py --seeds 0 1 2 --json-out outputs/bench/demo_seeds.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine_info, save  # noqa: E402  (the same machine record as make bench)

from tchexnet_lib import evaluation  # noqa: E402  (no TensorFlow: AUC text only)

#: What a run must print to be read (``tchexnet demo --json``).
_COMMAND = [sys.executable, "-m", "tchexnet_lib.tools.cli", "demo", "--no-notebooks", "--json"]


def run_seed(seed: int, base: Path, isa: str | None) -> dict:
    """The demo on the target set drawn with ``seed`` (in its own folders); its summary."""
    env = {
        **os.environ,
        "TCHEXNET_DATA_DIR": str(base / f"data-{seed}"),
        "TCHEXNET_WEIGHTS_DIR": str(base / f"weights-{seed}-{isa}"),
        "TCHEXNET_OUTPUT_DIR": str(base / f"outputs-{seed}-{isa}"),
    }
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    done = subprocess.run(
        [*_COMMAND, "--target-seed", str(seed)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def row(seed: int, isa: str | None, summary: dict) -> str:
    """One line of the table."""
    models, cam = summary["models"], summary["gradcam"]
    return (
        f"{seed:>4} {isa or 'native':>7} {summary['positives']:>4} "
        f"{evaluation.format_auc(models['CheXNet'])} {evaluation.format_auc(models['tCheXNet'])} "
        f"{summary['delong']['p']:>9.2g} {cam['n']:>4} {cam['pointing_hit_rate']:.2f} "
        f"{cam['mass_ratio_median']:.2f}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--onednn-isa", help="also run each seed with oneDNN limited to this ISA")
    parser.add_argument("--json-out", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results = {"machine": machine_info(), "runs": []}
    base = Path(tempfile.mkdtemp(prefix="tchexnet-demo-seeds-"))
    lines = ["seed     isa  pos CheXNet tCheXNet (95% CI)   DeLong p  cam  hit ratio"]
    try:
        for seed in args.seeds:
            for isa in [None] + ([args.onednn_isa] if args.onednn_isa else []):
                summary = run_seed(seed, base, isa)
                results["runs"].append({"seed": seed, "onednn_isa": isa, "summary": summary})
                lines.append(row(seed, isa, summary))
                print(lines[-1], flush=True)
                save(results, args.json_out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
