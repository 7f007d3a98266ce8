"""The baseline CNN: architecture, forward pass, committed weights and their accuracy, and its trainer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from grader.baseline import model as net
from grader.contract.validate import validate_folder
from grader.core import config
from grader.measure import data, training

BASELINE_DIR = Path(net.__file__).parent


def random_params(seed: int = 0) -> dict[str, np.ndarray]:
    return training.init_params(seed)


def test_architecture_has_the_competition_parameter_count() -> None:
    assert sum(int(np.prod(s)) for s in net.PARAM_SHAPES.values()) == 545_098


def test_forward_gives_float32_scores_per_image_and_is_deterministic() -> None:
    model = net.Model(random_params())
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    scores = model.predict(images)
    assert scores.shape == (5, 10) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, model.predict(images))
    # batch independence: an image's scores do not depend on its batch-mates
    np.testing.assert_allclose(model.predict(images[2:3])[0], scores[2], rtol=1e-5, atol=1e-5)


def test_weights_with_a_wrong_shape_are_refused_naming_the_array(tmp_path: Path) -> None:
    params = random_params()
    params["fc1.weight"] = params["fc1.weight"][:100]
    np.savez(tmp_path / "weights.npz", **params)
    with pytest.raises(ValueError, match=r"array 'fc1.weight' has shape \(100, 128\), expected \(4096, 128\)"):
        net.load(tmp_path)


def test_weights_missing_an_array_are_refused_naming_it(tmp_path: Path) -> None:
    params = random_params()
    del params["conv2.bias"]
    np.savez(tmp_path / "weights.npz", **params)
    with pytest.raises(ValueError, match=r"missing \['conv2.bias'\]"):
        net.load(tmp_path)


@pytest.mark.slow
def test_gradients_match_finite_differences() -> None:
    params = {k: v.astype(np.float64) for k, v in random_params(1).items()}
    images = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 3, 9])
    _, grads = training.loss_and_grads(params, images, labels)
    rng = np.random.default_rng(2)
    for name, value in params.items():
        index = tuple(int(rng.integers(0, s)) for s in value.shape)
        shifted = {k: v.copy() for k, v in params.items()}
        shifted[name][index] += 1e-5
        up, _ = training.loss_and_grads(shifted, images, labels)
        shifted[name][index] -= 2e-5
        down, _ = training.loss_and_grads(shifted, images, labels)
        assert grads[name][index] == pytest.approx((up - down) / 2e-5, rel=1e-3, abs=1e-7), name


@pytest.mark.slow
def test_resumed_training_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    split = data.Split(rng.integers(0, 256, (64, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 64))
    config = training.TrainConfig(epochs=2, batch_size=16)
    straight = training.train(config, split, None, tmp_path / "a.npz", log=lambda m: None)

    def interrupt(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise KeyboardInterrupt  # killed right after the first checkpoint

    with pytest.raises(KeyboardInterrupt):
        training.train(config, split, None, tmp_path / "b.npz", log=interrupt)
    resumed = training.train(config, split, None, tmp_path / "b.npz", log=lambda m: None)
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)


def baseline_metadata() -> dict:
    """The baseline folder's submission.yaml: it is a submission folder like any entry's."""
    result = validate_folder(BASELINE_DIR, config.load())
    assert result.ok, [str(p) for p in result.problems]
    return result.submission.to_json()


def test_committed_weights_match_the_sha256_in_the_folders_metadata() -> None:
    digest = hashlib.sha256((BASELINE_DIR / "weights.npz").read_bytes()).hexdigest()
    assert f"sha256 {digest}" in baseline_metadata()["description"]


# The target: the committed weights (40 epochs, 76.51% measured) must reach 75% on the
# shared test set; the exact recorded value is pinned below as well.
ACCURACY_FLOOR_PCT = 75.0


@pytest.mark.slow
def test_committed_weights_reach_their_recorded_accuracy_on_the_real_test_set(cifar_test: data.Split) -> None:
    claimed = baseline_metadata()["claimed"]["accuracy_pct"]
    model = net.load(BASELINE_DIR)
    predictions = np.concatenate([model.predict(cifar_test.images[i:i + 1000]).argmax(1)
                                  for i in range(0, 10000, 1000)])
    accuracy = 100.0 * float(np.mean(predictions == cifar_test.labels))
    assert accuracy >= ACCURACY_FLOOR_PCT
    assert accuracy == pytest.approx(claimed, abs=0.005)
