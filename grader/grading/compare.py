"""Compare an entry's predictions with the baseline's on the test images, for the student's own use.

``tinymlperf compare FOLDER`` answers "what did my optimization change?": the share of images on
which entry and baseline agree, each one's accuracy overall and per class, the classes the
entry confuses where the baseline was right, and the first such images by index (into the
CIFAR-10 test batch) to look at. Both models run in sandboxed workers exactly as in a grade;
nothing here is a score. ``compare_predictions`` and ``render`` are pure.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.core import markdown
from grader.grading import grade
from grader.measure import data
from grader.measure.accuracy import predict_all
from grader.sandbox import parent as sandbox

# CIFAR-10's classes in label order (batches.meta's label_names).
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHOWN_CONFUSIONS = 5
SHOWN_IMAGES = 10


@dataclass(frozen=True)
class ClassRow:
    name: str
    images: int
    baseline_pct: float
    entry_pct: float
    agreement_pct: float


@dataclass(frozen=True)
class Comparison:
    images: int
    agreement_pct: float  # entry and baseline gave the same label
    baseline_pct: float
    entry_pct: float
    classes: tuple[ClassRow, ...]
    lost: int  # baseline right, entry wrong
    gained: int  # baseline wrong, entry right
    confusions: tuple[tuple[str, str, int], ...]  # (true class, entry's answer, count) where the baseline was right
    lost_indices: tuple[int, ...]  # first images the entry lost, as indices into the test batch


def _pct(part: np.ndarray) -> float:
    return 100.0 * float(np.mean(part)) if part.size else 0.0


def compare_predictions(entry: np.ndarray, baseline: np.ndarray, labels: np.ndarray) -> Comparison:
    """The comparison of two label vectors against the true labels (same length, int labels 0-9)."""
    if not len(entry) == len(baseline) == len(labels):
        raise ValueError("entry, baseline and labels must have the same length")
    lost_mask = (baseline == labels) & (entry != labels)
    classes = tuple(ClassRow(name, int(np.sum(labels == k)), _pct(baseline[labels == k] == k),
                             _pct(entry[labels == k] == k), _pct(entry[labels == k] == baseline[labels == k]))
                    for k, name in enumerate(CLASSES))
    confusions = Counter((CLASSES[t], CLASSES[e]) for t, e in zip(labels[lost_mask], entry[lost_mask], strict=True))
    return Comparison(
        images=len(labels), agreement_pct=_pct(entry == baseline), baseline_pct=_pct(baseline == labels),
        entry_pct=_pct(entry == labels), classes=classes, lost=int(np.sum(lost_mask)),
        gained=int(np.sum((baseline != labels) & (entry == labels))),
        confusions=tuple((t, e, n) for (t, e), n in sorted(confusions.items(), key=lambda kv: (-kv[1], kv[0]))
                         [:SHOWN_CONFUSIONS]),
        lost_indices=tuple(int(i) for i in np.flatnonzero(lost_mask)[:SHOWN_IMAGES]))


def render(c: Comparison) -> str:
    """The comparison as Markdown (readable in a terminal too)."""
    out = [f"On {c.images:,} test images the entry agrees with the baseline on {c.agreement_pct:.2f}% of them: "
           f"accuracy {c.entry_pct:.2f}% vs the baseline's {c.baseline_pct:.2f}% "
           f"({c.entry_pct - c.baseline_pct:+.2f} pp). It lost {c.lost:,} images the baseline got right and "
           f"gained {c.gained:,} it got wrong.", ""]
    rows = [[r.name, f"{r.images:,}", f"{r.baseline_pct:.1f}%", f"{r.entry_pct:.1f}%",
             f"{r.entry_pct - r.baseline_pct:+.1f} pp", f"{r.agreement_pct:.1f}%"] for r in c.classes]
    out.append(markdown.table(["Class", "Images", "Baseline", "Entry", "Change", "Same answer"], rows,
                              right=(1, 2, 3, 4, 5)))
    if c.confusions:
        out += ["", "Where the baseline was right and the entry was not, it most often answered:", ""]
        out += [f"- {t} taken for {e}: {n:,} image(s)" for t, e, n in c.confusions]
    if c.lost_indices:
        out += ["", "First images lost (indices into the test batch): "
                + ", ".join(str(i) for i in c.lost_indices)]
    return "\n".join(out) + "\n"


def compare(request: grade.GradeRequest, count: int, progress: grade.Progress = lambda message: None) -> Comparison:
    """Predict the first ``count`` test images with the entry (rebuilt as in a grade) and the baseline."""
    test = data.load_split(request.data_dir, "test")
    images, labels = test.images[:count], test.labels[:count]
    hide = sandbox.hidden_paths(request.data_dir)
    with tempfile.TemporaryDirectory(prefix="tinymlperf-compare-") as tmp:
        model_dir = grade.build_entry(request, Path(tmp), progress)
        predictions = {}
        for who, folder in (("entry", model_dir), ("baseline", request.baseline_dir)):
            progress(f"predicting {count:,} test images with the {who}")
            with sandbox.ModelWorker(folder, request.config.sandbox, isolation=request.isolation, hide=hide,
                                     load_seconds=request.config.budgets.load_seconds) as worker:
                predictions[who] = predict_all(worker, images)
    return compare_predictions(predictions["entry"], predictions["baseline"], labels)
