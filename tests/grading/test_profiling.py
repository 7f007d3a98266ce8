"""`tinymlperf profile`: per-function time in a sandboxed profiling worker, size per array, both models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.cli import main as cli
from grader.grading import grade, profiling
from tests.grading_helpers import BASELINE_DIR, entry, fast_config

SLOW_HELPER = """
    import numpy as np
    from pathlib import Path

    def load(folder):
        return Model()

    def slow_layer(images):
        total = 0
        for i in range(20000):
            total += i
        return images.reshape(len(images), -1)[:, :10].astype(np.float32)

    class Model:
        def predict(self, images):
            return slow_layer(images)
"""


def _request(folder: Path, data_dir: Path) -> grade.GradeRequest:
    return grade.GradeRequest(folder=folder, data_dir=data_dir, config=fast_config(), baseline_dir=BASELINE_DIR,
                              isolation="process")


@pytest.mark.slow
def test_the_profile_names_the_students_slow_function_and_the_baselines_layers(tmp_path: Path,
                                                                              small_data: Path) -> None:
    folder = entry(tmp_path, "open", SLOW_HELPER)
    entry_profile, baseline_profile = profiling.profile(_request(folder, small_data), 5)
    top = entry_profile.functions[0]
    assert top.name.startswith("model.py:") and top.name.endswith("(slow_layer)")
    assert top.calls == 5 and top.own_ms > 0
    assert any(f.name.endswith("(predict)") for f in baseline_profile.functions)
    assert baseline_profile.arrays[0].name == "weights.npz:fc1.weight"
    assert baseline_profile.arrays[0].shape == (4096, 128)
    text = profiling.render(entry_profile, baseline_profile)
    assert "its layers" in text and "model.py(slow\\_layer)" in text and "Size per array" in text
    # the baseline's layers beside it, the entry not calling them
    conv = next(line for line in text.splitlines() if line.startswith("| model.py(conv3x3)"))
    assert [c.strip() for c in conv.split("|")[1:-1]][1:3] == ["–", "–"] and float(conv.split("|")[4]) > 0


def _profile(name: str, own: float, total: float, arrays: tuple[profiling.ArraySize, ...] = ()
             ) -> profiling.ModelProfile:
    return profiling.ModelProfile(10, (profiling.FunctionTime(name, 20, own, total),
                                       profiling.FunctionTime("<method 'dot' of 'numpy.ndarray' objects>", 30, 0.5,
                                                              0.5)), arrays)


def test_the_terminal_profile_is_plain_text_with_each_layer_and_array_beside_the_baselines() -> None:
    fc1 = profiling.ArraySize("weights.npz:fc1.weight", "float32", (4096, 128), 1_961_279)
    small = profiling.ArraySize("weights.npz:fc1.weight", "int8", (4096, 128), 400_000)
    entry_profile = _profile("model.py:12(conv3x3)", 0.1, 0.3, (small,))
    baseline_profile = _profile("model.py:61(conv3x3)", 0.2, 0.9, (fc1,))
    plain = profiling.render(entry_profile, baseline_profile, plain=True)
    assert "&lt;" not in plain and "\\_" not in plain and "**" not in plain
    conv = next(line for line in plain.splitlines() if line.startswith("| model.py(conv3x3)"))
    assert [c.strip() for c in conv.split("|")[1:-1]] == ["model.py(conv3x3)", "2", "0.300", "0.900"]
    dot = next(line for line in plain.splitlines() if line.startswith("| <method 'dot'"))
    assert [c.strip() for c in dot.split("|")[1:-1]][2:] == ["0.500", "83%", "0.500"]
    array = next(line for line in plain.splitlines() if line.startswith("| weights.npz:fc1.weight"))
    assert [c.strip() for c in array.split("|")[1:-1]] == ["weights.npz:fc1.weight", "int8 4096×128", "400,000",
                                                           "100%", "float32 4096×128", "1,961,279"]
    markdown_text = profiling.render(entry_profile, baseline_profile)
    assert "&lt;method 'dot'" in markdown_text and "**" in markdown_text


@pytest.mark.slow
def test_the_cli_prints_the_profile_and_appends_it_to_the_report(tmp_path: Path, small_data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = entry(tmp_path, "open", SLOW_HELPER)
    report = tmp_path / "report.md"
    report.write_text("## TinyMLPerf grade\n")
    code = cli.main(["profile", str(folder), "--images", "3", "--data", str(small_data), "--isolation", "process",
                     "--report", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "its layers" in printed and "model.py(slow_layer)" in printed  # plain text on the terminal
    text = report.read_text()
    assert text.startswith("## TinyMLPerf grade\n") and "### Profile" in text and "model.py(slow\\_layer)" in text


@pytest.mark.slow
def test_a_model_worker_outside_profiling_mode_answers_no_profile(tmp_path: Path) -> None:
    from grader.core.errors import SandboxError
    from grader.sandbox import parent as sandbox

    with sandbox.ModelWorker(BASELINE_DIR, fast_config().sandbox, isolation="process") as worker:
        worker.predict(np.zeros((1, 3, 32, 32), np.uint8))
        with pytest.raises(SandboxError):
            worker.profile_rows()
