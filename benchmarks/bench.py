"""Benchmark: the project's feature store and head training vs the original tCheXNet's approach.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench.py --json-out FILE``). Everything
is measured side by side in one run, on the same images: CheXpert-sized (390×320) 8-bit gray
JPEGs generated into a temporary folder, or real ones with ``--images DIR``. See
``benchmarks/README.md`` for what each number means and the targets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE_HW = (390, 320)  # CheXpert-v1.0-small: about 390 high, 320 wide
MODEL_BATCH = 32
HEAD_EPOCHS = 10


# ---------------------------------------------------------------------------------------------
# Inputs and the machine
# ---------------------------------------------------------------------------------------------


def synthetic_xray(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A chest-radiograph-like 8-bit image: body, two dark lungs, spine, ribs, noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2 + rng.normal(0, 6), height / 2 + rng.normal(0, 8)
    image = 170 - 60 * ((xx - cx) / width) ** 2 * 4
    for side in (-1, 1):  # lungs
        lx, ly = cx + side * width * rng.uniform(0.2, 0.25), cy - height * 0.05
        inside = ((xx - lx) / (width * 0.17)) ** 2 + ((yy - ly) / (height * 0.3)) ** 2
        image -= 90 * np.exp(-(inside**2))
    image += 50 * np.exp(-(((xx - cx) / (width * 0.04)) ** 2))  # spine
    image += 12 * np.sin(yy / rng.uniform(9, 13) + 0.02 * np.abs(xx - cx)) ** 8  # ribs
    image += rng.normal(0, 6, (height, width))
    return np.clip(image, 0, 255).astype(np.uint8)


def make_images(folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` synthetic JPEGs (quality 95, mode L) in ``folder``; existing ones are reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"xray{i:05d}.jpg"
        if not path.exists():
            pixels = synthetic_xray(np.random.default_rng([seed, i]), *IMAGE_HW)
            Image.fromarray(pixels, mode="L").save(path, quality=95)
        paths.append(str(path))
    return paths


def real_images(folder: Path, n: int) -> list[str]:
    suffixes = (".jpg", ".jpeg", ".png")
    found = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in suffixes)
    if len(found) < n:
        raise SystemExit(f"--images {folder}: {len(found)} images, need {n}")
    return found[:n]


def machine_info() -> dict:
    """The machine record of every benchmark (:func:`tchexnet_lib.machine.machine_info`)."""
    from tchexnet_lib import machine

    return machine.machine_info()


# ---------------------------------------------------------------------------------------------
# Inference: model-bound, the feature store, the original's approach
# ---------------------------------------------------------------------------------------------


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds of all threads, result) of ``fn()``.

    CPU seconds are far less sensitive than wall time to other processes competing for the
    cores, so CPU-based ratios are quoted beside the wall-time ones.
    """
    began, began_cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - began, time.process_time() - began_cpu, result


def extract_into_temp(model, paths: list[str], root: Path) -> np.ndarray:
    """One extraction into a fresh store folder (removed afterwards); returns the features."""
    from tchexnet_lib import features

    out = Path(tempfile.mkdtemp(dir=root))
    features.extract_features(
        model,
        paths,
        out,
        options=features.ExtractionOptions(batch_size=MODEL_BATCH),
        weights_sha256="bench",
        progress=False,
    )
    feats, _ = features.load_features(out)
    shutil.rmtree(out)
    return feats


def paper_predict(model, paths: list[str]) -> np.ndarray:
    """The original hello-world: every image into ONE array (load_img 224², vstack), predict."""
    from keras.applications.densenet import preprocess_input
    from keras.utils import img_to_array, load_img

    arrays = []
    for path in paths:
        x = np.expand_dims(img_to_array(load_img(path, target_size=(224, 224))), axis=0)
        arrays.append(preprocess_input(x))
    return model.predict(np.vstack(arrays), batch_size=MODEL_BATCH, verbose=0)


def bf16_copy(base):
    """The same DenseNet-121 built under Keras' "mixed_bfloat16" policy, same weights."""
    import keras

    from tchexnet_lib import models

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.build_base()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.set_weights(base.get_weights())
    return model


def relative_change(new: np.ndarray, old: np.ndarray) -> dict:
    """Per-image relative L2 change of feature vectors: median and max."""
    old = old.astype(np.float64)
    rel = np.linalg.norm(new.astype(np.float64) - old, axis=1) / np.maximum(
        np.linalg.norm(old, axis=1), 1e-12
    )
    return {"median": float(np.median(rel)), "max": float(rel.max())}


def bench_inference(base, paths: list[str], root: Path, repeats: int) -> dict:
    """Model-bound forward, extraction, the original's inference and bf16 extraction.

    The four run interleaved (A B C D A B C D …), each warmed up (traced) first, so load from
    other processes hits all alike; ratios are medians of the per-round ratios. Model-bound:
    a ``tf.function`` forward on an in-memory batch of 32, the ceiling of any input pipeline.
    """
    import tensorflow as tf

    n = len(paths)
    batch = tf.random.uniform((MODEL_BATCH, 224, 224, 3), -2.0, 2.5, seed=0)
    forward = tf.function(lambda x: base(x, training=False))
    steps = max(1, math.ceil(n / MODEL_BATCH))
    bf16 = bf16_copy(base)
    variants = {
        "model_bound": (
            steps * MODEL_BATCH,
            lambda: [forward(batch).numpy() for _ in range(steps)],
        ),
        "extract": (n, lambda: extract_into_temp(base, paths, root)),
        "paper_infer": (n, lambda: paper_predict(base, paths)),
        "bf16_extract": (n, lambda: extract_into_temp(bf16, paths, root)),
    }
    forward(batch).numpy()
    extract_into_temp(base, paths[:MODEL_BATCH], root)
    paper_predict(base, paths[:MODEL_BATCH])
    extract_into_temp(bf16, paths[:MODEL_BATCH], root)
    runs: dict[str, list] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (_, fn) in variants.items():
            runs[name].append(timed(fn))
    out: dict = {}
    for name, (count, _) in variants.items():
        out[f"{name}_ips"] = count / statistics.median(w for w, _, _ in runs[name])
        out[f"{name}_times_s"] = [w for w, _, _ in runs[name]]
        cpu = statistics.median(c for _, c, _ in runs[name])
        out[f"{name}_cpu_ms_per_image"] = 1000 * cpu / count

    def ratio(a: str, b: str) -> float:
        (na, _), (nb, _) = variants[a], variants[b]
        return statistics.median((na / ra[0]) / (nb / rb[0]) for ra, rb in zip(runs[a], runs[b]))

    reference = runs["extract"][0][2]
    per_image = 224 * 224 * 3 * 4  # one float32 input in the original's single array
    return out | {
        "extract_ratio": ratio("extract", "model_bound"),
        "extract_ratio_cpu": out["model_bound_cpu_ms_per_image"] / out["extract_cpu_ms_per_image"],
        "infer_speedup": ratio("extract", "paper_infer"),
        "paper_infer_array_mb": n * per_image / 2**20,
        "paper_infer_array_gb_at_94482": 94_482 * per_image / 2**30,
        "bf16_speedup": ratio("bf16_extract", "extract"),
        "bf16_rel_change": relative_change(runs["bf16_extract"][0][2], reference),
        "float16_store_rel_change": relative_change(reference.astype(np.float16), reference),
    }


# ---------------------------------------------------------------------------------------------
# Memory: peak RSS of an extraction at N and 10·N images, each in its own process
# ---------------------------------------------------------------------------------------------


def rss_child(paths_file: str) -> None:
    """Child mode: extract the listed images with a fresh model; print the peak RSS."""
    from tchexnet_lib import features, models

    paths = Path(paths_file).read_text().split("\n")
    out = tempfile.mkdtemp()
    began = time.perf_counter()
    features.extract_features(
        models.build_base(), paths, out, progress=False, weights_sha256="bench"
    )
    seconds = time.perf_counter() - began
    shutil.rmtree(out)
    status = Path("/proc/self/status").read_text()
    hwm = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0
    )
    print(
        json.dumps(
            {
                "n": len(paths),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "vmhwm_mb": hwm / 1024,
                "seconds": seconds,
            }
        )
    )


def bench_rss(paths: list[str], sizes: list[int], root: Path) -> dict:
    results = {}
    for n in sizes:
        listing = root / f"paths-{n}.txt"
        listing.write_text("\n".join(paths[:n]))
        done = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(listing)], capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"rss child for {n} images failed:\n{done.stderr[-2000:]}")
        child = json.loads(done.stdout.strip().splitlines()[-1])
        results[str(n)] = child | {
            "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        }
    # VmHWM, not ru_maxrss: a child's ru_maxrss keeps the high-water mark of the fork before
    # exec, i.e. this (large) parent's RSS, so it reads the same for every child.
    small, large = (results[str(n)]["vmhwm_mb"] for n in (sizes[0], sizes[-1]))
    return {"rss": results, "rss_growth": large / small - 1}


# ---------------------------------------------------------------------------------------------
# Ten epochs of the paper's transfer training: the original way vs the feature store
# ---------------------------------------------------------------------------------------------


def paper_sequence(paths: list[str], labels: np.ndarray, batch_size: int):
    """The original generator: PIL RGB, skimage resize, preprocess_input, every epoch."""
    import keras
    from keras.applications.densenet import preprocess_input
    from skimage.transform import resize

    class PaperSequence(keras.utils.PyDataset):
        def __len__(self) -> int:
            return math.ceil(len(paths) / batch_size)

        def __getitem__(self, index: int):
            chunk = slice(index * batch_size, (index + 1) * batch_size)
            batch = []
            for path in paths[chunk]:
                with Image.open(path) as image:
                    rgb = np.asarray(image.convert("RGB"))
                batch.append(resize(rgb, (224, 224)))  # float64 in [0, 1]
            # preprocess_input divides by 255 again: the original's defect, kept for fidelity.
            x = preprocess_input(np.asarray(batch, dtype=np.float32))
            return x, labels[chunk].astype(np.float32)

    return PaperSequence()


def paper_weights(labels: np.ndarray) -> dict[int, float]:
    n = len(labels)
    return {0: float(np.sum(labels == 0) / n), 1: float(np.sum(labels == 1) / n)}


def bench_paper_train(paths, labels, n_train: int, epochs: int) -> float:
    """Frozen base + head, ``fit`` on a PyDataset that decodes and runs the base every epoch."""
    import keras

    from tchexnet_lib import models

    keras.utils.set_random_seed(1)
    model = models.build_tchexnet()  # frozen base (random weights) + Dense 512 + Dense 1
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    train = paper_sequence(paths[:n_train], labels[:n_train], 16)
    val = paper_sequence(paths[n_train:], labels[n_train:], 16)
    began = time.perf_counter()
    model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        class_weight=paper_weights(labels[:n_train]),
        verbose=0,
    )
    return time.perf_counter() - began


def bench_project_train(paths, labels, n_train: int, epochs: int, root: Path) -> tuple[float, dict]:
    """Extract once (fresh model: tracing included) + the head for ``epochs`` on the features."""
    import keras

    from tchexnet_lib import features, models, training

    keras.utils.set_random_seed(1)
    base = models.build_base()
    began = time.perf_counter()
    store = Path(tempfile.mkdtemp(dir=root))
    features.extract_features(base, paths, store, progress=False, weights_sha256="bench")
    x, _ = features.load_features(store)
    extracted = time.perf_counter() - began
    result = training.train_head(
        (x[:n_train], labels[:n_train]),
        (x[n_train:], labels[n_train:]),
        root / "head-run",
        training.HeadConfig(epochs=epochs, class_weight="paper"),
        resume=False,
    )
    total = time.perf_counter() - began
    return total, {
        "extract_s": extracted,
        "head_s": total - extracted,
        "head_epochs": len(result.history),
    }


# ---------------------------------------------------------------------------------------------
# Tuning of the extraction pipeline
# ---------------------------------------------------------------------------------------------


def bench_tuning(base, paths: list[str], root: Path) -> list[dict]:
    """A few pipeline settings, one run each after a warm-up, each paired with a model-bound
    run just before it (the ratio is what compares across a busy machine)."""
    import tensorflow as tf

    from tchexnet_lib import features

    batch = tf.random.uniform((MODEL_BATCH, 224, 224, 3), -2.0, 2.5, seed=0)
    forward = tf.function(lambda x: base(x, training=False))
    forward(batch).numpy()
    steps = max(1, math.ceil(len(paths) / MODEL_BATCH))
    rows = []
    for batch_size, parallel in [(32, None), (32, 1), (32, 2), (32, 4), (16, None), (64, None)]:
        shard_size = 1024 if 1024 % batch_size == 0 else batch_size * 32

        def run(some: list[str]) -> None:
            out = Path(tempfile.mkdtemp(dir=root))
            features.extract_features(
                base,
                some,
                out,
                options=features.ExtractionOptions(
                    batch_size=batch_size, shard_size=shard_size, num_parallel_calls=parallel
                ),
                weights_sha256="bench",
                progress=False,
            )
            shutil.rmtree(out)

        run(paths[:batch_size])
        model_s, _, _ = timed(lambda: [forward(batch).numpy() for _ in range(steps)])
        extract_s, _, _ = timed(lambda: run(paths))
        rows.append(
            {
                "batch_size": batch_size,
                "num_parallel_calls": "AUTOTUNE" if parallel is None else parallel,
                "ips": len(paths) / extract_s,
                "ratio": (len(paths) / extract_s) / (steps * MODEL_BATCH / model_s),
            }
        )
    rows.append(
        {
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "note": "0 = TensorFlow's default (all cores)",
        }
    )
    return rows


# ---------------------------------------------------------------------------------------------


def save(results: dict, path: Path | None) -> None:
    """Write the results so far (a crash late in the run keeps the earlier sections)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")


def table(results: dict) -> str:
    r = results
    rows = [
        (
            "model_bound_ips",
            f"{r['model_bound_ips']:.1f}",
            "DenseNet-121 224², tf.function, in-memory batch 32",
        ),
        ("extract_ips", f"{r['extract_ips']:.1f}", "extract_features from JPEGs on disk"),
        ("extract_ratio", f"{r['extract_ratio']:.3f}", "target ≥ 0.9 (wall time)"),
        (
            "extract_ratio_cpu",
            f"{r['extract_ratio_cpu']:.3f}",
            f"CPU ms/image: model {r['model_bound_cpu_ms_per_image']:.0f}, "
            f"extract {r['extract_cpu_ms_per_image']:.0f} (robust to other processes)",
        ),
        ("paper_infer_ips", f"{r['paper_infer_ips']:.1f}", "load_img + vstack + model.predict"),
        ("infer_speedup", f"{r['infer_speedup']:.2f}×", "extract / paper"),
        (
            "paper_infer_array_mb",
            f"{r['paper_infer_array_mb']:.0f}",
            f"the original's one array (94,482 images: {r['paper_infer_array_gb_at_94482']:.0f} GB,"
            " computed)",
        ),
    ]
    if "paper_train10_s" in r:
        rows += [
            ("paper_train10_s", f"{r['paper_train10_s']:.1f}", "PyDataset + frozen base, 10 ep"),
            ("project_train10_s", f"{r['project_train10_s']:.1f}", "extract once + 10 head epochs"),
            ("train10_speedup", f"{r['train10_speedup']:.1f}×", "target ≥ 8×"),
        ]
    if "rss" in r:
        for n, child in r["rss"].items():
            rows.append(
                (
                    f"rss_mb@{n}",
                    f"{child['vmhwm_mb']:.0f}",
                    f"peak RSS (VmHWM) of an extraction of {n} images",
                )
            )
        rows.append(("rss_growth", f"{100 * r['rss_growth']:+.1f}%", "target within ±10%"))
    if "bf16_extract_ips" in r:
        rows += [
            (
                "bf16_extract_ips",
                f"{r['bf16_extract_ips']:.1f}",
                f"{r['bf16_speedup']:.2f}× float32 extraction",
            ),
            (
                "bf16_rel_change",
                f"{r['bf16_rel_change']['max']:.4f}",
                f"max per-image relative L2 (median {r['bf16_rel_change']['median']:.4f})",
            ),
        ]
    if "float16_store_rel_change" in r:
        rows.append(
            (
                "float16_store_rel_change",
                f"{r['float16_store_rel_change']['max']:.2e}",
                "max per-image relative L2 of a float16 store",
            )
        )
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>10}  {note}" for name, value, note in rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of real JPEG/PNG images")
    parser.add_argument("--n", type=int, default=256, help="images for speed and training")
    parser.add_argument("--rss-n", type=int, default=64, help="RSS at this many and 10×")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the cheap timings")
    parser.add_argument("--epochs", type=int, default=HEAD_EPOCHS)
    parser.add_argument("--skip-train", action="store_true", help="no training comparison")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--tune", action="store_true", help="also try pipeline settings")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    import keras

    # Everything imported now: the run uses one consistent snapshot of the library.
    from tchexnet_lib import features, models, training  # noqa: F401

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tchexnet-bench-") as tmp:
        root = Path(tmp)
        n_images = max(args.n, 10 * args.rss_n if not args.skip_rss else 0)
        if args.images:
            paths = real_images(args.images, n_images)
        else:
            paths = make_images(root / "images", n_images)
        speed_paths = paths[: args.n]
        results: dict = {
            "machine": machine_info(),
            "settings": {
                "n": args.n,
                "repeats": args.repeats,
                "epochs": args.epochs,
                "images": str(args.images or "synthetic 390×320 JPEG"),
                "batch_size": MODEL_BATCH,
            },
        }
        keras.utils.set_random_seed(0)
        base = models.build_base()
        print("inference: model-bound, extraction, the original's, bf16 …", file=sys.stderr)
        results |= bench_inference(base, speed_paths, root, args.repeats)
        save(results, args.json_out)
        if args.tune:
            print("pipeline settings …", file=sys.stderr)
            results["tuning"] = bench_tuning(base, speed_paths, root)
        if not args.skip_rss:
            print("peak RSS at two sizes …", file=sys.stderr)
            results |= bench_rss(paths, [args.rss_n, 10 * args.rss_n], root)
            save(results, args.json_out)
        if not args.skip_train:
            labels = (np.random.default_rng(0).uniform(size=args.n) < 0.3).astype(np.int64)
            labels[:2] = [0, 1]  # both classes present
            n_train = round(0.8 * args.n)
            print("the original's 10-epoch training …", file=sys.stderr)
            results["paper_train10_s"] = bench_paper_train(
                speed_paths, labels, n_train, args.epochs
            )
            save(results, args.json_out)
            print("the project's 10-epoch training …", file=sys.stderr)
            total, parts = bench_project_train(speed_paths, labels, n_train, args.epochs, root)
            results |= {
                "project_train10_s": total,
                "project_train10_parts": parts,
                "train10_speedup": results["paper_train10_s"] / total,
            }
    from tchexnet_lib import machine  # (the benchmark imports the library lazily)

    results["machine"]["loadavg_end"] = machine.load_average()
    results["wall_s"] = time.perf_counter() - began
    print(table(results))
    print(
        f"(load average start {results['machine']['loadavg_start'][0]:.2f}, end "
        f"{results['machine']['loadavg_end'][0]:.2f} on {results['machine']['usable_cores']} "
        f"cores; wall {results['wall_s']:.0f} s)"
    )
    if args.json_out:
        save(results, args.json_out)
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
