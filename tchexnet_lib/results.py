"""A study's result, built once and rendered twice: as text and as JSON (``summary.json``).

:class:`StudyResult` holds what every output of a study says: which study (data, weights,
input size, the weights' sha256), the test set (its size, its positives), each model's AUC
with its 95% interval and warnings (:class:`ModelScore`), the paired DeLong test of every
pair of models (:class:`PairTest`), Grad-CAM's localisation block
(:func:`localisation.gradcam_check`), the timings, and the notes some runs add (the demo's
weights, the ablation, the paper's AUCs, the run folder's outputs).

It is built from a study's predictions (:meth:`StudyResult.from_predictions`), from a
comparison of score files (:meth:`StudyResult.from_comparison`, ``tchexnet compare``) or
from a ``summary.json`` (:meth:`StudyResult.from_json`, files of earlier versions too), and
rendered by one text function (:meth:`StudyResult.text`: the command's ``compare``, ``demo``
and ``reproduce``, the site's landing page) and one JSON function
(:meth:`StudyResult.to_json`: ``summary.json``, ``--json``). A number shown in every output
is added here once, beside the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from tchexnet_lib import evaluation, labels, localisation, pipeline

__all__ = ["HEADLINE", "ModelScore", "PairTest", "STUDY_MODELS", "StudyResult"]

#: The study's headline pair, z = (AUC tCheXNet − AUC CheXNet)/SE: ``summary.json``'s ``delong``.
HEADLINE: tuple[str, str] = ("tCheXNet", "CheXNet")
#: The models of a study's predictions, in the order every output lists them.
STUDY_MODELS: tuple[str, ...] = ("CheXNet", "tCheXNet")


@dataclass(frozen=True)
class ModelScore:
    """One model's AUC as every output gives it (a model of :func:`evaluation.compare_models`).

    Attributes:
        auc: the ROC AUC (None: undefined, a class without cases).
        ci95: its 95% interval (None: not computable).
        warnings: why the AUC deserves caution (:func:`evaluation.auc_warnings`).
        undefined: why the AUC is undefined (``"n_pos=0, n_neg=12"``), else None.
    """

    auc: float | None
    ci95: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()
    undefined: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping) -> ModelScore:
        """A model of ``summary.json`` or of the ``compare`` JSON."""
        ci95 = entry.get("ci95")
        return cls(
            entry.get("auc"),
            None if ci95 is None else (float(ci95[0]), float(ci95[1])),
            tuple(entry.get("warnings", ())),
            entry.get("undefined"),
        )

    def to_json(self) -> dict:
        """The JSON form :func:`evaluation.compare_models` writes (``warnings`` and
        ``undefined`` only where there are some)."""
        return {
            "auc": self.auc,
            "ci95": None if self.ci95 is None else list(self.ci95),
            **({"warnings": list(self.warnings)} if self.warnings else {}),
            **({"undefined": self.undefined} if self.undefined is not None else {}),
        }

    def text(self, positives: int | None = None) -> str:
        """``0.974 (95% CI 0.955–0.993)`` with its warnings (:func:`evaluation.format_auc`);
        ``positives`` adds the few-positives warning."""
        return evaluation.format_auc({**self.to_json(), "n_pos": positives}, warn=True)


@dataclass(frozen=True)
class PairTest:
    """A paired DeLong test: z = (AUC a − AUC b)/SE and its p-value (None: undefined)."""

    a: str
    b: str
    z: float | None
    p: float | None

    @classmethod
    def from_json(cls, entry: Mapping) -> PairTest:
        """A pair of ``summary.json`` or of the ``compare`` JSON.

        A ``delong`` block written before it named its models (no ``a``, ``b``) held
        z = (AUC CheXNet − AUC tCheXNet)/SE: it is read as such.
        """
        return cls(entry.get("a", "CheXNet"), entry.get("b", "tCheXNet"), entry["z"], entry["p"])

    def to_json(self) -> dict:
        """``{"a", "b", "z", "p"}``."""
        return dataclasses.asdict(self)

    def text(self) -> str:
        """Worded by :func:`evaluation.delong_text`, its sign stated."""
        return evaluation.delong_text(self.a, self.b, self.z, self.p)


@dataclass(frozen=True)
class StudyResult:
    """What a study (or a comparison of score files) found, as every output says it.

    Attributes:
        n_test, positives: the test set's images and positives.
        models: model name -> its :class:`ModelScore`, in the order outputs list them.
        pairs: the paired DeLong test of every pair of models (the study's headline pair,
            :data:`HEADLINE`, among them).
        dataset, weights, image_size, weights_sha256: which study (None for a comparison of
            score files); ``weights`` is ``"demo"`` for the demo's.
        seconds: the run's wall time.
        note: what the numbers are about (the demo's weights).
        gradcam: Grad-CAM's block (:func:`localisation.gradcam_check`).
        ablation: what was removed from the test images (the demo's ablation).
        paper_auc: the paper's published AUCs, shown beside these (``reproduce``).
        recipe, limit: the split's recipe and row limit (``reproduce``; written together).
        run: the run's devices, extraction speed and seconds per step (``reproduce``).
        outputs: the files written, by name (``reproduce``).
        target: the finding (text only: every study's is Pneumothorax).
    """

    n_test: int
    positives: int
    models: dict[str, ModelScore]
    pairs: tuple[PairTest, ...] = ()
    dataset: str | None = None
    weights: str | None = None
    image_size: tuple[int, int] | None = None
    weights_sha256: str | None = None
    seconds: float | None = None
    note: str | None = None
    gradcam: dict | None = None
    ablation: str | None = None
    paper_auc: dict[str, float] | None = None
    recipe: str | None = None
    limit: int | None = None
    run: dict | None = None
    outputs: dict[str, str] | None = None
    target: str = field(default=labels.TARGET, compare=False)

    # ------------------------------------------------------------------ built

    @classmethod
    def from_comparison(cls, compared: Mapping, **details) -> StudyResult:
        """From :func:`evaluation.compare_models`' output; ``details``: the other attributes."""
        return cls(
            n_test=compared["n"],
            positives=compared["positives"],
            models={name: ModelScore.from_json(m) for name, m in compared["models"].items()},
            pairs=tuple(PairTest.from_json(pair) for pair in compared["delong"]),
            **details,
        )

    @classmethod
    def from_predictions(
        cls,
        test: pd.DataFrame,
        study: pipeline.Study,
        seconds: float,
        models: Sequence[str] = STUDY_MODELS,
        **details,
    ) -> StudyResult:
        """A study's result from its test predictions (:func:`pipeline.test_predictions`).

        Args:
            test: the test rows, with the Pneumothorax label and a score column per model.
            study: the study (its data, weights, input size).
            seconds: the run's wall time so far.
            models: the score columns, in the order outputs list them. Each pair is tested
                as the later model against the earlier (z > 0 when the later ranks better):
                tCheXNet − CheXNet for the paper's two.
            details: the other attributes (``note``, ``gradcam``, ``paper_auc``, ...).
        """
        compared = evaluation.compare_models(
            pipeline.target_labels(test), {name: test[name] for name in reversed(models)}
        )
        compared["models"] = {name: compared["models"][name] for name in models}
        return cls.from_comparison(
            compared,
            dataset=study.dataset,
            weights="demo" if study.is_demo else str(study.weights),
            image_size=tuple(study.image_size),
            weights_sha256=study.weights_sha256,
            seconds=round(seconds, 1),
            **details,
        )

    @classmethod
    def from_json(cls, summary: Mapping) -> StudyResult:
        """A ``summary.json`` read back, written by this version or an earlier one.

        Earlier files lack ``delong_pairs`` (their one pair is ``delong``), may lack the pair's
        names (:meth:`PairTest.from_json`) and Grad-CAM's two groups
        (:func:`localisation.gradcam_lines` reads both forms), ``image_size`` and
        ``weights_sha256``.
        """
        if "delong_pairs" in summary:
            pairs = tuple(PairTest.from_json(pair) for pair in summary["delong_pairs"])
        else:
            pairs = (
                () if summary.get("delong") is None else (PairTest.from_json(summary["delong"]),)
            )
        size = summary.get("image_size")
        return cls(
            n_test=summary["n_test"],
            positives=summary["positives"],
            models={name: ModelScore.from_json(m) for name, m in summary["models"].items()},
            pairs=pairs,
            image_size=None if size is None else tuple(size),
            **{
                name: summary.get(name)
                for name in (
                    "dataset",
                    "weights",
                    "weights_sha256",
                    "seconds",
                    "note",
                    "gradcam",
                    "ablation",
                    "paper_auc",
                    "recipe",
                    "limit",
                    "run",
                    "outputs",
                )
            },
        )

    @property
    def headline(self) -> PairTest | None:
        """The pair of tCheXNet and CheXNet (as stored), else the first pair, else None."""
        named = [pair for pair in self.pairs if {pair.a, pair.b} == set(HEADLINE)]
        return (named or list(self.pairs) or [None])[0]

    # ------------------------------------------------------------------ rendered

    def to_json(self) -> dict:
        """The result as ``summary.json`` holds it (plain JSON types).

        Always ``dataset``, ``weights``, ``image_size``, ``weights_sha256``, ``n_test``,
        ``positives``, ``seconds``, ``models`` (:meth:`ModelScore.to_json`), ``delong`` (the
        :attr:`headline` pair, ``{"a", "b", "z", "p"}``; None without two models) and
        ``delong_pairs`` (every pair); ``note``, ``gradcam``, ``ablation``, ``paper_auc``,
        ``run`` and ``outputs`` where set, ``recipe`` and ``limit`` where the recipe is.
        """
        headline = self.headline
        summary = {
            "dataset": self.dataset,
            "weights": self.weights,
            "image_size": None if self.image_size is None else list(self.image_size),
            "weights_sha256": self.weights_sha256,
            "n_test": self.n_test,
            "positives": self.positives,
            "seconds": self.seconds,
            "models": {name: model.to_json() for name, model in self.models.items()},
            "delong": None if headline is None else headline.to_json(),
            "delong_pairs": [pair.to_json() for pair in self.pairs],
        }
        for name in ("note", "gradcam", "ablation", "paper_auc"):
            if getattr(self, name) is not None:
                summary[name] = getattr(self, name)
        if self.recipe is not None:
            summary |= {"recipe": self.recipe, "limit": self.limit}
        for name in ("run", "outputs"):
            if getattr(self, name) is not None:
                summary[name] = getattr(self, name)
        return summary

    def text(self) -> str:
        """The result as the command, the demo, ``reproduce`` and the site print it.

        The heading (test set, positives, time), one line per model (AUC, interval, warnings;
        the paper's AUC beside it where known), one line per paired DeLong test (the headline
        pair first), Grad-CAM's lines, and the files written.
        """
        lines = [f"Ablation, {self.ablation}:"] if self.ablation else []
        lines.append(self._heading())
        width = max([9, *(len(name) + 1 for name in self.models)])
        if self.paper_auc is not None:
            lines.append(f"  {'model':<{width}} {'paper':>5}  this run: AUC (95% CI)")
        for name, model in self.models.items():
            if self.paper_auc is None:
                lines.append(f"  {name:<{width}} AUC {model.text(self.positives)}")
            else:
                paper = self.paper_auc.get(name)
                paper_text = "" if paper is None else f"{paper:.3f}"
                lines.append(f"  {name:<{width}} {paper_text:>5}  {model.text(self.positives)}")
        headline = self.headline
        ordered = [headline, *(pair for pair in self.pairs if pair is not headline)]
        lines += [f"  paired DeLong: {pair.text()}" for pair in ordered if pair is not None]
        if self.gradcam:
            lines += [f"  {line}" for line in localisation.gradcam_lines(self.gradcam)]
        lines += [f"{name}: {path}" for name, path in (self.outputs or {}).items()]
        return "\n".join(lines)

    def _heading(self) -> str:
        """``Demo (note): Pneumothorax on 200 synthetic test images, 64 positive, 160 s``; a
        comparison of score files: ``Pneumothorax: n=202, 7 positive``."""
        if self.dataset is None and self.note is None and self.seconds is None:
            return f"{self.target}: n={self.n_test}, {self.positives} positive"
        images = {"demo": "synthetic test images", "chexpert": "CheXpert test images"}
        limit = f", first {self.limit} rows of each split" if self.limit else ""
        return (
            (f"Demo ({self.note}): " if self.note else "")
            + f"{self.target} on {self.n_test} {images.get(self.dataset, 'test images')}, "
            + f"{self.positives} positive"
            + (f" ({self.recipe} split{limit})" if self.recipe else "")
            + ("" if self.seconds is None else f", {self.seconds:.0f} s")
        )
