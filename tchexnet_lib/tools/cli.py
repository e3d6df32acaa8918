"""The ``tchexnet`` command: predict, features, split, compare, gradcam, extract, train, demo,
reproduce, doctor, notebooks, site, student, instructor.

Text output for people (the original repository's hello-world format), ``--json``
for machines. Errors are one line on stderr and a non-zero exit; ``--debug``
shows the traceback. Progress and "which weights" notes go to stderr, so stdout
holds only the result. An option whose choices or default the library defines reads them
there (:class:`training.HeadConfig`, :data:`images.INTERPOLATIONS`, the default of the
parameter the option feeds) rather than restating them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tchexnet_lib import (
    backbones,
    config,
    data,
    errors,
    evaluation,
    features,
    files,
    images,
    labels,
    models,
    results,
    score_files,
    splits,
    synthetic,
    training,
)
from tchexnet_lib.tools import doctor, pretrain, runner

__all__ = [
    "EXIT_ERROR",
    "build_parser",
    "cmd_compare",
    "cmd_demo",
    "cmd_demo_pretrain",
    "cmd_doctor",
    "cmd_extract",
    "cmd_features",
    "cmd_gradcam",
    "cmd_instructor",
    "cmd_notebooks",
    "cmd_predict",
    "cmd_reproduce",
    "cmd_site",
    "cmd_split",
    "cmd_student",
    "cmd_train",
    "main",
]

EXIT_ERROR = 2
#: Help of ``--data-dir`` (extract, train).
DATA_DIR_HELP = (
    "folder holding CheXpert-v1.0-small/, the images' root (default: the root a "
    "`tchexnet split` CSV recorded, else $TCHEXNET_DATA_DIR, else chexpert/; "
    "CheXpert's own CSVs: their folder)"
)


def _note(message: str) -> None:
    print(f"tchexnet: {message}", file=sys.stderr)


def _default(function: Callable, parameter: str) -> object:
    """The library's default of ``function``'s ``parameter``, for the option that feeds it."""
    return inspect.signature(function).parameters[parameter].default


def _extraction(args: argparse.Namespace) -> features.ExtractionOptions:
    """The extraction's options from the command's flags (the defaults where a flag is absent)."""
    given = {
        name: getattr(args, name, None)
        for name in ("batch_size", "shard_size", "dtype", "on_error", "shard")
    }
    return features.ExtractionOptions(**{k: v for k, v in given.items() if v is not None})


#: The extraction's defaults, shown by the options that feed them.
EXTRACTION = features.ExtractionOptions()


def _preprocess_config(args: argparse.Namespace, model=None) -> config.PreprocessConfig:
    """The command's preprocessing, at the model's input size and scaling when a model is given."""
    interpolation = getattr(args, "interpolation", None)  # extract has no --interpolation
    options = {} if interpolation is None else {"interpolation": interpolation}
    if model is not None:
        options.update(
            size=tuple(model.input.shape[1:3]),
            normalisation=backbones.of_model(model).normalisation,
        )
    return config.PreprocessConfig(**options)


def _kept_images(args: argparse.Namespace) -> images.PreflightReport:
    """Check every image before the model runs; report skips so counts reconcile."""
    report = images.preflight(args.images, _preprocess_config(args), on_error=args.on_error)
    if report.n_skipped:
        _note(report.summary())
        for _index, path, reason in report.skipped:
            _note(f"skipped {path}: {reason}")
    return report


def _load_model(architecture: str, weights: str | None):
    path = models.resolve_weights(architecture, weights)
    _note(f"{architecture}: {models.describe_weights(path)}")
    return models.build_model(architecture, path, input_shape=models.input_shape_for(path))


def _run_on_images(model, report: images.PreflightReport, args: argparse.Namespace) -> np.ndarray:
    dataset = images.make_dataset(
        list(report.kept_paths), _preprocess_config(args, model), batch_size=args.batch_size
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
    """The pooled features of CheXNet's base, per image (1024-d for DenseNet-121)."""
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
        train, val = splits.paper_split(table, args.uncertain)
    else:
        train, val = splits.patient_split(
            data.frontal(table),
            val_fraction=args.val_fraction,
            seed=args.seed,
            stratify_on=args.stratify,
        )
    out = Path(args.out) if args.out else config.output_dir("split", args.recipe)
    train_csv = data.write_split_csv(train, out / "train.csv")
    val_csv = data.write_split_csv(val, out / "val.csv")
    result = {
        "train": len(train),
        "val": len(val),
        "train_csv": str(train_csv),
        "val_csv": str(val_csv),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.recipe} split of {args.csv}: {len(train)} train, {len(val)} validation")
        print(f"train: {train_csv}\nval:   {val_csv}")


def _parse_named_scores(items: Sequence[str]) -> dict[str, str]:
    """``NAME=FILE`` items (from one or several ``--scores``) → {name: file}, names unique."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--scores {item!r}: expected NAME=FILE, e.g. CheXNet=chexnet.csv")
        if name in named:
            raise ValueError(f"--scores: model {name!r} given twice ({named[name]} and {path})")
        named[name] = path
    return named


def cmd_compare(args: argparse.Namespace) -> None:
    """ROC AUC with 95% intervals and paired DeLong tests on one label set."""
    table = data.read_labels(args.labels, require=("Path", args.target))
    if args.view == "frontal":
        table = data.frontal(table)
    targets = data.to_targets(
        table, [args.target], uncertain=args.uncertain, blank=data.PAPER_POLICY
    )
    keep = targets.mask[:, 0]
    y = targets.values[keep, 0]
    paths = table["Path"].tolist()
    scores = {
        name: np.asarray(score_files.read_scores_any(path, paths))[keep]
        for name, path in _parse_named_scores(args.scores).items()
    }
    result = evaluation.compare_models(y, scores)
    if args.out:
        files.save_json(result, Path(args.out) / "metrics.json")
        from tchexnet_lib import plotting  # matplotlib only when figures are asked for

        plotting.save_figure(plotting.roc_figure(y, scores), Path(args.out) / "roc.png")
        plotting.save_figure(plotting.pr_figure(y, scores), Path(args.out) / "pr.png")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(results.StudyResult.from_comparison(result, target=args.target).text())


def cmd_gradcam(args: argparse.Namespace) -> None:
    """Grad-CAM heat map of one output for one image, saved as a PNG figure."""
    from tchexnet_lib import camplots, gradcam, plotting  # matplotlib: only for this command

    model = _load_model(args.model, args.weights)
    result = gradcam.cam_for_image(
        args.image,
        model,
        output=args.output,
        layer_name=args.layer,
        interpolation=args.interpolation,
    )
    stem = f"{Path(args.image).stem}_{result.output}_gradcam.png"
    out = Path(args.out) if args.out else config.output_dir("gradcam") / stem
    figure = camplots.cam_figure(result, mask=args.mask)
    plotting.save_figure(figure, out)
    report = {
        "image": args.image,
        "model": args.model,
        "output": result.output,
        "probability": result.probability,
        "figure": str(out),
    }
    if args.mask:
        report["localisation"] = gradcam.localisation_scores(
            result.cam, gradcam.load_mask(args.mask, result.cam.shape)
        )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(args.image)
    print(result.output, result.probability)
    for key, value in report.get("localisation", {}).items():
        print(key, value)
    print(f"Grad-CAM: {out}")


def _image_root(args: argparse.Namespace) -> Path | None:
    """``--data-dir``'s CheXpert-v1.0-small folder; None: the CSV's recorded root (its split's),
    else the data folder's (:func:`data.recorded_image_root`)."""
    return config.dataset_dir("chexpert", args.data_dir) if args.data_dir else None


def cmd_extract(args: argparse.Namespace) -> None:
    """CheXNet features of a labels CSV's images into a resumable, sharded feature store."""
    table = data.read_labels(args.csv, image_root=_image_root(args))
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit {args.limit}: must be ≥ 1")
    paths = table["image_path"].tolist()[: args.limit]
    weights = models.resolve_weights("chexnet", args.weights)
    model = _load_model("chexnet", args.weights)
    store = features.extract_features(
        model,
        paths,
        args.out,
        _preprocess_config(args, model),
        _extraction(args),
        files.sha256_file(weights),
    )
    missing = store.missing_shards()
    result = {
        "out": str(store.path),
        "rows": store.n_rows,
        "kept": len(store.kept_indices),
        "skipped": len(store.skipped),
        "complete": store.complete,
        "missing_shards": missing,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for row in store.skipped:
        _note(f"skipped row {row['index']} {row['path']}: {row['reason']}")
    state = "complete" if store.complete else f"{len(missing)} shard(s) still missing"
    print(
        f"feature store {store.path}: {result['rows']} rows, {result['kept']} with features, "
        f"{result['skipped']} skipped; {state}"
    )


def _store_labels(
    csv_path: str, manifest: dict, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """Labels aligned with a store's kept rows, and which of those rows have a label."""
    table = data.read_labels(csv_path, image_root=_image_root(args), require=("Path", args.target))
    n_rows, rows = manifest["key"]["n_rows"], table["image_path"].tolist()
    if len(rows) < n_rows or files.sha256_lines(rows[:n_rows]) != manifest["key"]["rows_sha256"]:
        raise errors.DataError(
            f"{csv_path}: its image paths do not line up with the feature store's {n_rows} rows "
            "(another CSV, order or data root); extract the features from this CSV"
        )
    if len(rows) > n_rows:
        _note(f"{csv_path}: using its first {n_rows} rows, the rows of the feature store")
    targets = data.to_targets(table.iloc[:n_rows], [args.target], uncertain=args.uncertain)
    kept = np.asarray(manifest["preflight"]["kept_indices"], dtype=np.int64)
    return targets.values[kept, 0], targets.mask[kept, 0]


def cmd_train(args: argparse.Namespace) -> None:
    """Train the tCheXNet head on a feature store (the paper's transfer step), resumably."""
    x, manifest = features.load_features(args.features)
    y, labelled = _store_labels(args.labels, manifest, args)
    if args.val_features:
        if not args.val_labels:
            raise ValueError("--val-features needs --val-labels")
        x_val, val_manifest = features.load_features(args.val_features)
        y_val, val_labelled = _store_labels(args.val_labels, val_manifest, args)
        x, y, x_val, y_val = x[labelled], y[labelled], x_val[val_labelled], y_val[val_labelled]
    else:
        x, y = x[labelled], y[labelled]
        n_train, _ = splits.paper_split_sizes(len(x))
        val_percent = _paper_val_percent()
        _note(
            f"validation: the last {len(x) - n_train} of {len(x)} rows (the paper's "
            f"{100 - val_percent}/{val_percent} by row order; give --val-features/--val-labels "
            "for a patient-level split)"
        )
        x, y, x_val, y_val = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    head_config = training.HeadConfig(
        epochs=args.epochs,
        class_weight=args.class_weight,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        select_on=args.select_on,
        seed=args.seed,
        early_stopping_patience=args.patience,
    )
    result = training.train_head(
        (x, y), (x_val, y_val), args.out, head_config, resume=not args.no_resume
    )
    summary = {
        "out": str(result.out_dir),
        "train": len(x),
        "val": len(x_val),
        "best_epoch": result.best_epoch,
        args.select_on: result.best_value,
        "best_checkpoint": str(result.best_checkpoint),
        "history": str(result.paths["history"]),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(result.history.drop(columns=["checkpoint"]).to_string(index=False))
    if result.best_epoch is None:
        print(f"no epoch had a defined {args.select_on}: no best checkpoint")
    else:
        print(
            f"best: epoch {result.best_epoch}, {args.select_on} {result.best_value:.5f}: "
            f"{result.best_checkpoint}"
        )


def _paper_val_percent() -> int:
    """The paper's validation share of the rows, in percent (the last rows: 20)."""
    return 100 - round(100 * splits.PAPER_TRAIN_FRACTION)


def cmd_demo(args: argparse.Namespace) -> None:
    """The whole study offline: synthetic data, demo CheXNet, transfer, comparison."""
    if args.action == "pretrain":
        cmd_demo_pretrain(args)
        return
    from tchexnet_lib.tools import demo  # matplotlib and the notebooks' kernel: only for demo

    cfg = _demo_config(args)
    lock = config.output_dir() / ".demo.lock"  # one demo at a time per working folder
    with files.exclusive_lock(
        lock, f"tchexnet demo in {config.display_path(lock.parent)}", say=_note
    ):
        # In a child process that exits before the notebooks' kernels start (docs/memory.md)
        result, ablation = demo.run_in_child(cfg, args.out, not args.json, args.ablation)
        _demo_notebooks(args, result)
    if args.json:
        extra = {"ablation": ablation.to_json()} if ablation else {}
        print(json.dumps({**result.summary, **extra}, indent=2))
        return
    for name, path in result.paths.items():
        print(f"{name}: {path}")
    if ablation:
        print(ablation.text())
    print(result.result.text())


def cmd_notebooks(args: argparse.Namespace) -> None:
    """Copy the series and its instructor's page into a folder of the learner's (never over an
    edited notebook)."""

    result = runner.copy_series(args.folder)
    if args.json:
        print(
            json.dumps(
                {
                    "folder": str(result.folder),
                    "copied": result.copied,
                    "unchanged": result.unchanged,
                    "kept": result.kept,
                },
                indent=2,
            )
        )
        return
    print(result.report())
    print(
        f"next: `tchexnet demo` here (the study and its outputs), then open "
        f"{config.display_path(result.folder / runner.SERIES_FILES[0])} in Jupyter"
    )


def cmd_demo_pretrain(args: argparse.Namespace) -> None:
    """Pretrain the demo CheXNet (the project ships the result; see ``pretrain``)."""
    import dataclasses

    cfg = pretrain.PretrainConfig()
    if args.stages:
        cfg = dataclasses.replace(
            cfg,
            stages=tuple(pretrain.Stage.parse(s) for s in args.stages),
            eval_size=pretrain.Stage.parse(args.stages[-1]).size,
        )
    if args.source_patients:
        cfg = dataclasses.replace(
            cfg,
            source=dataclasses.replace(
                cfg.source,
                n_patients_train=args.source_patients,
                n_patients_valid=max(4, args.source_patients // 4),
            ),
        )
    if args.fresh:
        shutil.rmtree(args.work_dir or config.output_dir("pretrain"), ignore_errors=True)
    out = args.weights_out
    if out is None and cfg != pretrain.PretrainConfig():  # never over the shipped file
        from tchexnet_lib.tools import demo  # matplotlib and the notebooks' kernel: only for demo

        out = config.weights_dir() / demo.CUSTOM_CHEXNET
    path = pretrain.pretrain(cfg, out, args.work_dir, progress=not args.json)
    manifest = models.read_metadata(path)
    if args.json:
        print(json.dumps({"weights": str(path), **manifest}, indent=2))
        return
    aucs = ", ".join(f"{k} {v:.3f}" for k, v in manifest["val_auc"].items() if v is not None)
    print(
        f"demo CheXNet: {path} ({manifest['seconds']:.0f} s, "
        f"sha256 {manifest['sha256'][:12]}…)\nsource validation AUC at {cfg.eval_size} px: "
        f"mean {manifest['val_mean_auc']:.3f}; {aucs}"
    )


def cmd_reproduce(args: argparse.Namespace) -> None:
    """The paper on real CheXpert in one resumable command (split, features, head, comparison)."""
    from tchexnet_lib.tools import reproduce  # matplotlib: only for this command

    run = reproduce.RunSettings(args.data_dir, args.weights, args.out, args.limit, args.recipe)
    result = reproduce.reproduce(run, _extraction(args), progress=not args.json, say=_note)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            reproduce.shard_text(result)
            if "shard" in result
            else results.StudyResult.from_json(result).text()
        )


def _reproduce_parser(commands) -> None:
    """``tchexnet reproduce``'s options."""
    rep = commands.add_parser(
        "reproduce", help="the paper on real CheXpert in one resumable command"
    )
    rep.add_argument(
        "--data-dir",
        help="folder holding CheXpert-v1.0-small/ (default: the one "
        "the run folder recorded, else $TCHEXNET_DATA_DIR, else "
        "chexpert/)",
    )
    rep.add_argument("--weights", help="CheXNet weight file (default: the registry's)")
    rep.add_argument(
        "--out",
        help="run folder (default outputs/chexpert[-patient][-limitN]/, the notebooks' too)",
    )
    rep.add_argument("--limit", type=int, help="only the first N rows of each split")
    rep.add_argument(
        "--shard",
        metavar="i/N",
        help="this machine's share of the extraction "
        "(blocks k with k %% N == i), then stop; a "
        "run without it merges the shards",
    )
    rep.add_argument(
        "--recipe",
        choices=splits.RECIPES,
        default="paper",
        help="train/val split: the paper's row order (default) or by patient",
    )
    rep.add_argument(
        "--batch-size", type=int, help=f"extraction batch (default {EXTRACTION.batch_size})"
    )
    rep.add_argument(
        "--shard-size", type=int, help=f"rows per shard file (default {EXTRACTION.shard_size})"
    )
    rep.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    rep.set_defaults(run=cmd_reproduce)


def _demo_config(args: argparse.Namespace):
    """The demo's settings from the command line (seeds; the demo's own where not given)."""
    import dataclasses

    from tchexnet_lib.tools import demo  # matplotlib and the notebooks' kernel: only for demo

    target = dataclasses.replace(demo.DEMO_TARGET, seed=args.target_seed)
    seed = {} if args.seed is None else {"seed": args.seed}
    return demo.DemoConfig(target=target, **seed)


def _demo_notebooks(args: argparse.Namespace, result) -> None:
    """Run the tutorial series on the demo just computed (it reuses its data, weights, head)."""
    if args.no_notebooks:
        return
    from tchexnet_lib.tools import demo  # matplotlib and the notebooks' kernel: only for demo

    cfg = _demo_config(args)
    parameters = demo.notebook_parameters(cfg)
    folder = result.paths["predictions"].parent  # the run's results folder
    inputs = None if args.rerun_notebooks else demo.notebook_inputs(cfg, folder)
    if not args.json:
        print(
            f"running the notebooks ({len(runner.SERIES)}) on the demo "
            f"({'all' if inputs is None else 'those not up to date'})..."
        )

    def report(name: str, path: Path, reused: bool) -> None:
        if not args.json:
            print(f"{'up to date, reused' if reused else 'executed notebook'}: {path}")

    runner.execute_series(parameters, inputs=inputs, on_done=report)


def cmd_site(args: argparse.Namespace) -> None:
    """The executed series as a static website (``make site``); nothing is executed."""
    from tchexnet_lib.tools import demo, site  # matplotlib (the demo), MkDocs: only for site

    cfg = _demo_config(args)
    inputs = demo.notebook_inputs(cfg, args.demo)  # None until the demo has run
    expected = site.expected_keys(demo.notebook_parameters(cfg), inputs)
    result = site.build_site(
        args.notebooks,
        args.out,
        expected,
        require_current=not args.allow_stale,
        student_edition=args.student,
        sources=site.SiteSources(demo_dir=args.demo),
    )
    behind = {name: state for name, state in result.states.items() if state != "current"}
    if args.json:
        print(
            json.dumps(
                {
                    "index": str(result.index),
                    "pages": [str(p) for p in result.pages],
                    "notebooks": result.states,
                    "docs": str(result.docs) if result.docs else None,
                },
                indent=2,
            )
        )
        return
    for name, state in behind.items():
        print(
            f"warning: {name}: {state}; its page says so (`make demo` makes it current)",
            file=sys.stderr,
        )
    if result.docs is None:
        print(
            "note: no docs/ folder (not a checkout): the site has no project pages", file=sys.stderr
        )
    print(
        f"site: {result.index} ({len(result.pages)} pages, from the executed notebooks in "
        f"{args.notebooks or config.output_dir('notebooks')})\nopen it in a browser, or "
        f"publish it by copying {result.folder} to any static host"
    )


def cmd_student(args: argparse.Namespace) -> None:
    """The student edition: the notebooks with solutions removed and checks kept."""
    from tchexnet_lib.tools import student  # nbformat: only for the student edition

    written = student.write_student_edition(args.out)
    if args.json:
        print(json.dumps({"notebooks": [str(p) for p in written]}, indent=2))
        return
    for path in written:
        print(f"student copy: {path}")
    print("safe to hand out: no solution and no worked answer (`tchexnet instructor` writes those)")


def cmd_instructor(args: argparse.Namespace) -> None:
    """The instructor edition: each notebook's worked answers and solutions, one page each."""
    from tchexnet_lib.tools import workshop  # nbformat: only for the two editions

    slot = {} if args.slot is None else {"slot_minutes": args.slot}
    written = workshop.write_instructor_edition(args.out, executed_dir=args.notebooks, **slot)
    if args.json:
        print(json.dumps({"pages": [str(p) for p in written]}, indent=2))
        return
    print(
        f"instructor edition: {written[0]} (one page per notebook beside it, and the "
        f"workshop's clock: {written[-1]})"
    )


#: How ``doctor`` marks a check of each level.
DOCTOR_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the setup before hours of work: one line per check; status 1 if any failed."""
    checks = []
    for check in doctor.run_checks(
        args.data_dir,
        args.weights,
        args.out,
        args.seconds,
        args.sample,
        args.seed,
        args.only or doctor.SECTIONS,
    ):
        checks.append(check)
        if not args.json:
            label = "fix" if check.level == "fail" else "note"
            fix = f" — {label}: {check.fix}" if check.fix else ""
            print(f"{DOCTOR_MARKS[check.level]} {check.check:<21} {check.found}{fix}", flush=True)
    result = doctor.summary(checks)
    if args.json:
        print(
            json.dumps(
                {"checks": [check.to_dict() for check in checks], "summary": result}, indent=2
            )
        )
    else:
        print(
            f"{result['passed']} passed, {result['warnings']} warning(s), {result['failed']} failed"
        )
    return result["exit_status"]


def _image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG chest X-rays")
    parser.add_argument("--weights", help="weight file (default: the registry's, under weights/)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--on-error",
        choices=images.ON_ERROR,
        default=_default(images.preflight, "on_error"),
        help="a bad image stops the run (default) or is skipped and reported",
    )
    parser.add_argument(
        "--batch-size", type=int, default=_default(images.make_dataset, "batch_size")
    )
    height, width = config.IMAGE_SIZE
    parser.add_argument(
        "--interpolation",
        choices=images.INTERPOLATIONS,
        default=config.PreprocessConfig().interpolation,
        help=f"resize to {height}×{width}: antialiased bilinear (default) or "
        "nearest (the original hello scripts)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tchexnet`` (one sub-command per task)."""
    parser = argparse.ArgumentParser(
        prog="tchexnet", description="CheXNet / tCheXNet on chest X-rays. Not for clinical use."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="probabilities per image")
    _image_arguments(predict)
    predict.add_argument("--model", choices=models.ARCHITECTURES, default="chexnet")
    predict.set_defaults(run=cmd_predict)

    features_parser = commands.add_parser("features", help="CheXNet features per image (1024-d)")
    _image_arguments(features_parser)
    features_parser.set_defaults(run=cmd_features)

    split = commands.add_parser("split", help="train/validation CSVs from a CheXpert train.csv")
    split.add_argument("--csv", required=True, help="CheXpert train.csv")
    split.add_argument("--recipe", choices=("paper", "patient"), default="paper")
    split.add_argument("--out", help="folder for train.csv and val.csv (default outputs/split/)")
    split.add_argument(
        "--val-fraction",
        type=float,
        default=_default(splits.patient_split, "val_fraction"),
        help="patient recipe only",
    )
    split.add_argument(
        "--seed",
        type=int,
        default=_default(splits.patient_split, "seed"),
        help="patient recipe only",
    )
    split.add_argument("--stratify", metavar="CLASS", help="patient recipe: stratify on CLASS")
    split.add_argument(
        "--uncertain",
        choices=data.UNCERTAINTY_POLICIES,
        default=data.PAPER_POLICY,
        help="paper recipe: what uncertain (-1) labels become (default: zeros, "
        "the paper's U-Zeros; ignore keeps them -1)",
    )
    split.add_argument("--json", action="store_true")
    split.set_defaults(run=cmd_split)

    compare = commands.add_parser("compare", help="ROC AUC with 95%% CIs and DeLong tests")
    compare.add_argument("--labels", required=True, help="CheXpert-style CSV")
    compare.add_argument("--target", default=labels.TARGET)
    compare.add_argument(
        "--scores",
        nargs="+",
        action="extend",
        required=True,
        metavar="NAME=FILE",
        help="one score per line aligned with the label rows, or a CSV with "
        "Path and score columns; repeat the flag or list several",
    )
    compare.add_argument(
        "--view",
        choices=("all", "frontal"),
        default="all",
        help="use all label rows (default) or frontal ones only",
    )
    compare.add_argument(
        "--uncertain",
        choices=data.UNCERTAINTY_POLICIES,
        default=_default(data.to_targets, "uncertain"),
    )
    compare.add_argument("--out", help="folder for metrics.json")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(run=cmd_compare)

    cam = commands.add_parser("gradcam", help="Grad-CAM heat map of one output for one image")
    cam.add_argument("image", metavar="IMAGE", help="JPEG or PNG chest X-ray")
    cam.add_argument("--model", choices=models.ARCHITECTURES, default="chexnet")
    cam.add_argument("--weights", help="weight file (default: the registry's, under weights/)")
    cam.add_argument(
        "--output",
        metavar="CLASS",
        default=None,
        help=f"output class, ChestX-ray14 or CheXpert name (default {labels.TARGET})",
    )
    cam.add_argument(
        "--layer",
        default=None,
        help="feature-map layer (default: the backbone's, "
        "relu for DenseNet-121: its last activation)",
    )
    cam.add_argument(
        "--mask", help="ground-truth mask image: drawn and scored (hit, IoU, mass inside)"
    )
    cam.add_argument(
        "--interpolation",
        choices=images.INTERPOLATIONS,
        default=config.PreprocessConfig().interpolation,
    )
    cam.add_argument("--out", metavar="PNG", help="figure file (default outputs/gradcam/)")
    cam.add_argument("--json", action="store_true")
    cam.set_defaults(run=cmd_gradcam)

    extract = commands.add_parser("extract", help="CheXNet features of a CSV's images, to a store")
    extract.add_argument("--csv", required=True, help="CheXpert-style CSV (its Path column)")
    extract.add_argument("--data-dir", help=DATA_DIR_HELP)
    extract.add_argument("--weights", help="CheXNet weight file (default: the registry's)")
    extract.add_argument("--out", required=True, help="feature store folder")
    extract.add_argument("--limit", type=int, help="only the first N rows")
    extract.add_argument(
        "--shard",
        metavar="i/N",
        help="this machine's share: shard blocks k with k %% N == i (i from 0)",
    )
    extract.add_argument("--on-error", choices=images.ON_ERROR, default=EXTRACTION.on_error)
    extract.add_argument("--batch-size", type=int, default=EXTRACTION.batch_size)
    extract.add_argument("--shard-size", type=int, default=EXTRACTION.shard_size)
    extract.add_argument("--dtype", choices=features.DTYPES, default=EXTRACTION.dtype)
    extract.add_argument("--json", action="store_true")
    extract.set_defaults(run=cmd_extract)

    head = training.HeadConfig()  # the paper's recipe: the defaults of the options below
    train = commands.add_parser("train", help="train the tCheXNet head on a feature store")
    train.add_argument("--features", required=True, help="feature store of the training rows")
    train.add_argument("--labels", required=True, help="the CSV the store was extracted from")
    train.add_argument("--data-dir", help=DATA_DIR_HELP)
    train.add_argument("--out", required=True, help="run folder (checkpoints, history, state)")
    train.add_argument(
        "--val-features",
        help="feature store of the validation rows (default: "
        f"the last {_paper_val_percent()}%% of --features' "
        "rows)",
    )
    train.add_argument("--val-labels", help="the CSV --val-features was extracted from")
    train.add_argument("--target", default=labels.TARGET)
    train.add_argument(
        "--uncertain",
        choices=data.UNCERTAINTY_POLICIES,
        default=_default(data.to_targets, "uncertain"),
    )
    train.add_argument("--epochs", type=int, default=head.epochs)
    train.add_argument(
        "--class-weight",
        choices=training.CLASS_WEIGHTS,
        default=head.class_weight,
        help="'paper': the original's inverted weights (positives down-weighted)",
    )
    train.add_argument("--batch-size", type=int, default=head.batch_size)
    train.add_argument("--lr", type=float, default=head.learning_rate)
    train.add_argument("--select-on", choices=training.SELECT_ON, default=head.select_on)
    train.add_argument(
        "--patience",
        type=int,
        default=head.early_stopping_patience,
        help="early stopping patience (default: none)",
    )
    train.add_argument("--seed", type=int, default=head.seed)
    train.add_argument(
        "--no-resume", action="store_true", help="start afresh (the folder's best is still kept)"
    )
    train.add_argument("--json", action="store_true")
    train.set_defaults(run=cmd_train)

    demo_parser = commands.add_parser(
        "demo",
        help="the whole study offline on synthetic data (`demo pretrain`: remake the "
        "shipped demo CheXNet)",
    )
    demo_parser.add_argument(
        "action",
        nargs="?",
        choices=("run", "pretrain"),
        default="run",
        help="run: the study (default); pretrain: the demo CheXNet",
    )
    demo_parser.add_argument("--out", help="results folder (default outputs/demo/)")
    demo_parser.add_argument(
        "--seed", type=int, help="seeds the head and the splits (default: the demo's)"
    )
    demo_parser.add_argument(
        "--target-seed",
        type=int,
        default=synthetic.DEMO_TARGET.seed,
        help="seed of the synthetic target set's drawing (default: the demo's)",
    )
    demo_parser.add_argument("--json", action="store_true")
    demo_parser.add_argument(
        "--no-notebooks",
        action="store_true",
        help="skip running the tutorial notebooks on the demo afterwards",
    )
    demo_parser.add_argument(
        "--rerun-notebooks",
        action="store_true",
        help="execute every notebook again, even those whose executed copy "
        "is up to date (same source, parameters, library and results)",
    )
    demo_parser.add_argument(
        "--ablation",
        action="store_true",
        help="also run the control: the same models on the test images drawn "
        "without the pneumothorax sign (labels kept); AUCs at chance",
    )
    pretrain_options = demo_parser.add_argument_group("demo pretrain")
    shipped_recipe = pretrain.PretrainConfig()
    stages = " ".join(f"{s.size}:{s.epochs}:{s.learning_rate:g}" for s in shipped_recipe.stages)
    pretrain_options.add_argument(
        "--stages",
        nargs="+",
        metavar="SIZE:EPOCHS:LR",
        help=f"progressive-resizing schedule (default: the shipped one, {stages})",
    )
    pretrain_options.add_argument(
        "--source-patients",
        type=int,
        help=f"patients in the synthetic source set (default {shipped_recipe.source.n_patients_train})",
    )
    pretrain_options.add_argument(
        "--weights-out",
        help="weight file to write (default: the "
        "shipped weights/"
        f"{models.DEMO_FILES['chexnet']} "
        "for the shipped recipe, else "
        "demo/chexnet_demo_custom.weights.h5)",
    )
    pretrain_options.add_argument(
        "--work-dir", help="checkpoints; a rerun resumes from here (default outputs/pretrain/)"
    )
    pretrain_options.add_argument(
        "--fresh", action="store_true", help="ignore the checkpoints in --work-dir"
    )
    demo_parser.set_defaults(run=cmd_demo)
    _reproduce_parser(commands)

    check = commands.add_parser(
        "doctor",
        help="check the setup (software, data, weights, speed, "
        "disk) before a long run; exit status 1 on a ✗",
    )
    check.add_argument(
        "--data-dir",
        help="folder holding CheXpert-v1.0-small/ (default $TCHEXNET_DATA_DIR, else chexpert/)",
    )
    check.add_argument("--weights", help="CheXNet weight file (default: the registry's)")
    check.add_argument("--out", help="output folder (default outputs/)")
    check.add_argument(
        "--seconds",
        type=float,
        default=_default(doctor.run_checks, "seconds"),
        help="how long to measure the model-bound img/s (default %(default)g; 0: skip)",
    )
    check.add_argument(
        "--sample",
        type=int,
        default=_default(doctor.run_checks, "sample"),
        help="images decoded per CSV (default %(default)s)",
    )
    check.add_argument(
        "--seed",
        type=int,
        default=_default(doctor.run_checks, "seed"),
        help="seeds the image sample",
    )
    check.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=doctor.SECTIONS,
        metavar="SECTION",
        help=f"run only these of {', '.join(doctor.SECTIONS)}",
    )
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=cmd_doctor)

    site_parser = commands.add_parser(
        "site", help="the executed notebooks of `tchexnet demo` as a static website (no execution)"
    )
    site_parser.add_argument("--notebooks", help="executed notebooks (default outputs/notebooks/)")
    site_parser.add_argument("--demo", help="the demo's results (default outputs/demo/)")
    site_parser.add_argument("--out", help="the site's folder (default outputs/site/)")
    site_parser.add_argument("--seed", type=int, help="the demo run's --seed (default: the demo's)")
    site_parser.add_argument(
        "--target-seed",
        type=int,
        default=synthetic.DEMO_TARGET.seed,
        help="the demo run's --target-seed (default: the demo's)",
    )
    site_parser.add_argument(
        "--allow-stale",
        action="store_true",
        help="build from executed copies that are not current (their pages "
        "say so) instead of stopping",
    )
    site_parser.add_argument(
        "--student",
        action="store_true",
        help="the student edition: no solution, no worked answer, no "
        "instructor's page (default out: outputs/site-student/)",
    )
    site_parser.add_argument("--json", action="store_true")
    site_parser.set_defaults(run=cmd_site)

    series = commands.add_parser(
        "notebooks",
        help="copy the six notebooks and the instructor's page into FOLDER (an "
        "edited notebook is kept, never overwritten)",
    )
    series.add_argument("folder", nargs="?", help="where (default ./tchexnet-notebooks/)")
    series.add_argument("--json", action="store_true")
    series.set_defaults(run=cmd_notebooks)

    student_parser = commands.add_parser(
        "student", help="student copies of the notebooks: solutions removed, checks kept"
    )
    student_parser.add_argument("--out", help="their folder (default outputs/student/)")
    student_parser.add_argument("--json", action="store_true")
    student_parser.set_defaults(run=cmd_student)

    instructor_parser = commands.add_parser(
        "instructor",
        help="the instructor edition: each notebook's worked answers and "
        "solutions, one Markdown page each",
    )
    instructor_parser.add_argument("--out", help="its folder (default outputs/instructor/)")
    instructor_parser.add_argument(
        "--notebooks",
        help="executed notebooks, for the clock's running times (default outputs/notebooks/)",
    )
    instructor_parser.add_argument(
        "--slot",
        type=int,
        help="the workshop's minutes, for the clock (default: workshop.write_instructor_edition's)",
    )
    instructor_parser.add_argument("--json", action="store_true")
    instructor_parser.set_defaults(run=cmd_instructor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tchexnet`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ notes off stderr
    args = build_parser().parse_args(argv)
    try:
        # doctor imports TensorFlow itself: a missing or broken one is one of its ✗ lines; the
        # demo's study runs in a child process that imports it (demo.run_in_child)
        study_apart = args.command == "demo" and args.action != "pretrain"
        if (
            args.command
            not in {"split", "compare", "site", "student", "instructor", "doctor", "notebooks"}
            and not args.debug
            and not study_apart
        ):
            config.import_tensorflow_quietly()
        status = args.run(args)
    except (ValueError, OSError, errors.MissingTensorFlowError) as error:  # DataError, ImageError,
        # WeightsError included; no TensorFlow: the extra to install
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"tchexnet: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
