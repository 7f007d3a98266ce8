"""The accuracy pass: a model predicts the test images, clean and ±1 dithered, in one sandboxed worker.

Labels never enter the worker; accuracy is computed here from its predictions.
With budgets (an entry's pass), the pass stops after a first chunk when the
whole cannot fit its time budget (``budget.StageTooSlow``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.core.config import Budgets
from grader.core.config import Sandbox as SandboxLimits
from grader.measure import budget
from grader.sandbox import parent as sandbox
from grader.sandbox.isolation import Requested

PREDICT_BATCH = 500


@dataclass(frozen=True)
class ModelRun:
    """A model's accuracy-pass predictions, clean and dithered."""

    predictions: np.ndarray
    dithered_predictions: np.ndarray


def dither(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add independent -1/0/+1 noise to every pixel, clipped to 0..255."""
    noise = rng.integers(-1, 2, size=images.shape, dtype=np.int16)
    dithered: np.ndarray = np.clip(images.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return dithered


Done = Callable[[int], None]  # told how many images were just predicted (progress)


def _nothing(count: int) -> None:
    return None


def predict_all(worker: sandbox.ModelWorker, images: np.ndarray, done: Done = _nothing) -> np.ndarray:
    """The worker's labels for ``images``, asked ``PREDICT_BATCH`` at a time (``done`` hears of each batch)."""
    if not len(images):
        return np.empty(0, np.int64)
    labels = []
    for i in range(0, len(images), PREDICT_BATCH):
        labels.append(worker.predict(images[i:i + PREDICT_BATCH]))
        done(len(labels[-1]))
    return np.concatenate(labels)


def bounded_predictions(worker: sandbox.ModelWorker, images: np.ndarray, dithered: np.ndarray,
                        budgets: Budgets, done: Done = _nothing) -> ModelRun:
    """Both predictions of the accuracy pass, stopped after a first chunk when the whole cannot fit its budget."""
    n = min(budgets.accuracy_probe_images, len(images))
    start = worker.cpu_seconds()  # CPU time, not wall: a busy machine must not fail an honest entry
    first = worker.predict(images[:n])
    probe = budget.AccuracyProbe(first, worker.cpu_seconds() - start)
    reason = budget.accuracy_too_slow(probe, 2 * len(images), budgets.accuracy_seconds)
    if reason is not None:
        raise budget.StageTooSlow(f"accuracy: {reason}", {"probe": probe})
    done(n)
    clean = np.concatenate([first, predict_all(worker, images[n:], done)])
    return ModelRun(clean, predict_all(worker, dithered, done))


def counter(total: int, progress: Callable[[int, int], None] | None) -> Done:
    """A ``Done`` that tells ``progress`` the predictions so far out of ``total``."""
    so_far = [0]

    def done(count: int) -> None:
        so_far[0] += count
        if progress is not None:
            progress(so_far[0], total)
    return done


def accuracy_pass(folder: Path, limits: SandboxLimits, isolation: Requested, images: np.ndarray,
                  dithered: np.ndarray, hide: tuple[Path, ...] = (), *, budgets: Budgets | None = None,
                  progress: Callable[[int, int], None] | None = None) -> ModelRun:
    """Predict the test set twice (clean, dithered) in one worker; labels never enter it.

    With ``budgets`` (the entry's pass): loading within ``load_seconds``, the whole pass within
    ``accuracy_seconds``, stopped after its first chunk when the rest cannot fit (StageTooSlow).
    ``progress`` hears (predictions so far, of how many) after each batch.
    """
    worker = sandbox.ModelWorker(folder, limits, isolation=isolation, hide=hide,
                                 load_seconds=budgets.load_seconds if budgets else None)
    done = counter(len(images) + len(dithered), progress)
    with worker:
        if budgets is None:
            return ModelRun(predict_all(worker, images, done), predict_all(worker, dithered, done))
        # The projection (CPU time) decides; the wall-clock bound only stops a model that slows down later.
        seconds, bound = budget.wall_bound("accuracy", budgets.accuracy_seconds)
        with worker.within(seconds, "accuracy", bound):
            return bounded_predictions(worker, images, dithered, budgets, done)
