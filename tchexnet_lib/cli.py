"""The ``tchexnet`` command: predict, features, split, compare.

Text output for people (the original repository's hello-world format), ``--json``
for machines. Errors are one line on stderr and a non-zero exit; ``--debug``
shows the traceback. Progress and "which weights" notes go to stderr, so stdout
holds only the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tchexnet_lib import config, data, evaluation, images, models

EXIT_ERROR = 2


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up notes (oneDNN, CPU features) kept off stderr.

    They are printed before any logging setting applies; they are replayed if the import fails.
    """
    import tempfile

    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _note(message: str) -> None:
    print(f"tchexnet: {message}", file=sys.stderr)


def _preprocess_config(args: argparse.Namespace) -> config.PreprocessConfig:
    return config.PreprocessConfig(interpolation=args.interpolation)


def _kept_images(args: argparse.Namespace) -> images.PreflightReport:
    """Check every image before the model runs; report skips so counts reconcile."""
    report = images.preflight(args.images, _preprocess_config(args), on_error=args.on_error)
    if report.n_skipped:
        _note(report.summary())
        for index, path, reason in report.skipped:
            _note(f"skipped {path}: {reason}")
    return report


def _load_model(architecture: str, weights: str | None):
    path = models.resolve_weights(architecture, weights)
    _note(f"{architecture}: {models.describe_weights(path)}")
    return models.build_model(architecture, path)


def _run_on_images(model, report: images.PreflightReport, args: argparse.Namespace) -> np.ndarray:
    dataset = images.make_dataset(
        list(report.kept_paths), _preprocess_config(args), batch_size=args.batch_size
    )
    return models.predict(model, dataset)


def cmd_predict(args: argparse.Namespace) -> None:
    """Class probabilities per image (CheXNet's 14, or tCheXNet's Pneumothorax)."""
    report = _kept_images(args)
    model = _load_model(args.model, args.weights)
    probabilities = _run_on_images(model, report, args)
    names = models.output_names(model)
    if args.json:
        rows = [
            {"image": path, "probabilities": {n: float(p) for n, p in zip(names, row)}}
            for path, row in zip(report.kept_paths, probabilities)
        ]
        print(json.dumps(rows, indent=2))
        return
    for path, row in zip(report.kept_paths, probabilities):
        print(path)
        for name, probability in zip(names, row):
            print(name, probability)


def cmd_features(args: argparse.Namespace) -> None:
    """The 1024-d pooled DenseNet-121 features of CheXNet's base, per image."""
    report = _kept_images(args)
    extractor = models.feature_extractor(_load_model("chexnet", args.weights))
    features = _run_on_images(extractor, report, args)
    if args.json:
        rows = [{"image": p, "features": f.tolist()} for p, f in zip(report.kept_paths, features)]
        print(json.dumps(rows))
        return
    for path, vector in zip(report.kept_paths, features):
        print(path)
        print(len(vector), vector)


def cmd_split(args: argparse.Namespace) -> None:
    """Write train/validation CSVs by the paper's recipe or by patient."""
    table = data.read_labels(args.csv)
    if args.recipe == "paper":
        train, val = data.paper_split(table)
    else:
        train, val = data.patient_split(
            data.frontal(table), val_fraction=args.val_fraction, seed=args.seed,
            stratify_on=args.stratify,
        )
    out = Path(args.out) if args.out else config.output_dir("split", args.recipe)
    train_csv = data.write_split_csv(train, out / "train.csv")
    val_csv = data.write_split_csv(val, out / "val.csv")
    result = {"train": len(train), "val": len(val), "train_csv": str(train_csv),
              "val_csv": str(val_csv)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.recipe} split of {args.csv}: {len(train)} train, {len(val)} validation")
        print(f"train: {train_csv}\nval:   {val_csv}")


def _parse_named_scores(items: Sequence[str]) -> dict[str, str]:
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--scores {item!r}: expected NAME=FILE, e.g. CheXNet=chexnet.csv")
        named[name] = path
    return named


def cmd_compare(args: argparse.Namespace) -> None:
    """ROC AUC with 95% intervals and paired DeLong tests on one label set."""
    table = data.read_labels(args.labels, require=("Path", args.target))
    if args.view == "frontal":
        table = data.frontal(table)
    targets = data.to_targets(table, [args.target], uncertain=args.uncertain, blank="zeros")
    keep = targets.mask[:, 0]
    y = targets.values[keep, 0]
    paths = table["Path"].tolist()
    scores = {
        name: np.asarray(evaluation.read_scores_any(path, paths))[keep]
        for name, path in _parse_named_scores(args.scores).items()
    }
    result = evaluation.compare_models(y, scores)
    if args.out:
        config.save_json(result, Path(args.out) / "metrics.json")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.target}: n={result['n']}, {result['positives']} positive")
    for name, model in result["models"].items():
        auc = "undefined" if model["auc"] is None else f"{model['auc']:.3f}"
        ci = "" if model["ci95"] is None else " (95% CI {:.3f}–{:.3f})".format(*model["ci95"])
        print(f"  {name:<12} AUC {auc}{ci}")
    for test in result["delong"]:
        print(f"  DeLong {test['a']} vs {test['b']}: z = {test['z']:.3f}, p = {test['p']:.3f}")


def _image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG chest X-rays")
    parser.add_argument("--weights", help="weight file (default: the registry's, under weights/)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                        help="a bad image stops the run (default) or is skipped and reported")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--interpolation", choices=("bilinear", "nearest"), default="bilinear",
                        help="resize to 224×224: antialiased bilinear (default) or nearest "
                             "(the original hello scripts)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tchexnet`` (one sub-command per task)."""
    parser = argparse.ArgumentParser(
        prog="tchexnet", description="CheXNet / tCheXNet on chest X-rays. Not for clinical use.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="probabilities per image")
    _image_arguments(predict)
    predict.add_argument("--model", choices=models.ARCHITECTURES, default="chexnet")
    predict.set_defaults(run=cmd_predict)

    features = commands.add_parser("features", help="1024-d CheXNet features per image")
    _image_arguments(features)
    features.set_defaults(run=cmd_features)

    split = commands.add_parser("split", help="train/validation CSVs from a CheXpert train.csv")
    split.add_argument("--csv", required=True, help="CheXpert train.csv")
    split.add_argument("--recipe", choices=("paper", "patient"), default="paper")
    split.add_argument("--out", help="folder for train.csv and val.csv (default outputs/split/)")
    split.add_argument("--val-fraction", type=float, default=0.2, help="patient recipe only")
    split.add_argument("--seed", type=int, default=0, help="patient recipe only")
    split.add_argument("--stratify", metavar="CLASS", help="patient recipe: stratify on CLASS")
    split.add_argument("--json", action="store_true")
    split.set_defaults(run=cmd_split)

    compare = commands.add_parser("compare", help="ROC AUC with 95%% CIs and DeLong tests")
    compare.add_argument("--labels", required=True, help="CheXpert-style CSV")
    compare.add_argument("--target", default="Pneumothorax")
    compare.add_argument("--scores", nargs="+", required=True, metavar="NAME=FILE",
                         help="one score per line aligned with the label rows, or a CSV with "
                              "Path and score columns")
    compare.add_argument("--view", choices=("all", "frontal"), default="all",
                         help="use all label rows (default) or frontal ones only")
    compare.add_argument("--uncertain", choices=data.UNCERTAINTY_POLICIES, default="zeros")
    compare.add_argument("--out", help="folder for metrics.json")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(run=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tchexnet`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ notes off stderr
    args = build_parser().parse_args(argv)
    try:
        if args.command not in {"split", "compare"} and not args.debug:
            _import_tensorflow_quietly()
        args.run(args)
    except (ValueError, OSError) as error:  # DataError, ImageError, WeightsError are ValueErrors
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"tchexnet: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
