"""tinymlperf compare: the entry's predictions beside the baseline's, for the student's own use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.cli import main as cli
from grader.grading import compare
from tests.grading_helpers import entry

ANSWERS_AIRPLANE = """
    import numpy as np
    from pathlib import Path

    class Airplanes:
        def predict(self, images):
            return np.zeros(len(images), dtype=np.int64)

    def load(folder: Path):
        return Airplanes()
"""


def test_agreement_accuracy_and_what_the_entry_lost_are_counted_against_the_true_labels() -> None:
    labels = np.array([0, 1, 2, 3, 3, 5])
    baseline = np.array([0, 1, 2, 3, 4, 4])  # right on the first four
    entry_labels = np.array([0, 9, 2, 5, 3, 4])  # loses 1 and 3, gains the fifth
    c = compare.compare_predictions(entry_labels, baseline, labels)
    assert (c.images, c.lost, c.gained) == (6, 2, 1)
    assert c.agreement_pct == pytest.approx(100 * 3 / 6)
    assert (c.baseline_pct, c.entry_pct) == (pytest.approx(100 * 4 / 6), pytest.approx(100 * 3 / 6))
    assert set(c.confusions) == {("automobile", "truck", 1), ("cat", "dog", 1)}
    assert c.lost_indices == (1, 3)
    cat = next(r for r in c.classes if r.name == "cat")
    assert (cat.images, cat.baseline_pct, cat.entry_pct, cat.agreement_pct) == (2, 50.0, 50.0, 0.0)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        compare.compare_predictions(np.zeros(3, int), np.zeros(2, int), np.zeros(3, int))


@pytest.mark.slow
@pytest.mark.cifar
def test_the_cli_compares_an_entry_with_the_baseline_on_real_images(tmp_path: Path, small_data: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = entry(tmp_path, "open", ANSWERS_AIRPLANE)
    report = tmp_path / "report.md"
    code = cli.main(["compare", str(folder), "--data", str(small_data), "--images", "300",
                     "--isolation", "process", "--no-download", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "On 300 test images the entry agrees with the baseline on" in out
    assert "| airplane" in out and "taken for airplane" in out
    assert "### Compared with the baseline" in report.read_text()


@pytest.mark.slow
@pytest.mark.cifar
def test_the_baseline_compared_with_itself_agrees_everywhere(tmp_path: Path, small_data: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = entry(tmp_path, "open")  # the baseline's own model.py and weights
    assert cli.main(["compare", str(folder), "--data", str(small_data), "--images", "200",
                     "--isolation", "process", "--no-download"]) == 0
    out = capsys.readouterr().out
    assert "agrees with the baseline on 100.00% of them" in out and "lost 0 images" in out
