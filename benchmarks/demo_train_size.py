"""What the demo's train-set size costs in AUC: the tCheXNet head trained on the first N patients.

The demo's target set is sized for the first run's time budget on a slow CPU (features at 224
are most of it). This script draws a larger target set (``--patients``, default 1,100), extracts
its features once with the shipped demo CheXNet, then trains the paper's head (same settings as
the demo) on the train and validation rows of the first N patients only (the paper's 80/20
row-order split within them) and scores each head on the same test split. Usage::

    .venv/bin/python benchmarks/demo_train_size.py --json-out outputs/bench/demo_train_size.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine_info, save  # noqa: E402  (the same machine record as make bench)

from tchexnet_lib import evaluation  # noqa: E402  (no TensorFlow: AUC text only)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def head_auc(study, features: dict, tables: dict, n_patients: int, out: Path) -> dict:
    """The head trained on the first ``n_patients`` patients' train+val rows, scored on the test split."""
    import numpy as np
    import pandas as pd

    from tchexnet_lib import pipeline, training

    rows = pd.concat([tables["train"], tables["val"]], ignore_index=True)
    x = np.concatenate([features["train"], features["val"]])
    patient = rows["Path"].str.extract(r"patient(\d+)")[0].astype(int).to_numpy()
    keep = patient <= n_patients
    cut = int(keep.sum() * 0.8)
    y = pipeline.target_labels(rows[keep])
    result = training.train_head(
        (x[keep][:cut], y[:cut]), (x[keep][cut:], y[cut:]), out, study.head
    )
    head = training.build_head(config=study.head)
    head.load_weights(result.best_checkpoint)
    scores = head.predict(features["test"], verbose=0)[:, 0]
    auc = evaluation.roc_auc(pipeline.target_labels(tables["test"]), scores)
    return {
        "patients": n_patients,
        "images": int(keep.sum()),
        "positives": int(y.sum()),
        "auc": round(float(auc.auc), 4),
        "ci95": [round(float(v), 4) for v in auc.ci95],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1100, help="train patients drawn")
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 450, 600, 800, 1100])
    parser.add_argument("--json-out", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="tchexnet-train-size-"))
    os.environ.update(
        {
            "TCHEXNET_DATA_DIR": str(base / "data"),
            "TCHEXNET_WEIGHTS_DIR": str(base / "w"),
            "TCHEXNET_OUTPUT_DIR": str(base / "out"),
        }
    )
    from tchexnet_lib import pipeline
    from tchexnet_lib.tools import demo

    results = {"machine": machine_info(), "patients_drawn": args.patients, "runs": []}
    try:
        cfg = demo.DemoConfig(
            target=dataclasses.replace(demo.DEMO_TARGET, n_patients_train=args.patients)
        )
        study = demo.demo_study(cfg, progress=False)
        features, tables = pipeline.all_features(study, progress=False)
        for size in sorted(n for n in args.sizes if n <= args.patients):
            run = head_auc(study, features, tables, size, base / "heads" / str(size))
            results["runs"].append(run)
            print(
                f"{run['patients']:>5} patients: {run['images']:>5} train+val images, "
                f"{run['positives']:>4} positive → tCheXNet AUC {evaluation.format_auc(run)}",
                flush=True,
            )
            save(results, args.json_out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
