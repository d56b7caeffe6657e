"""The measures of ezgan.lab.metrics on inputs whose answer is known: plain NumPy, no classifier, no TensorFlow."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ezgan.lab.evaluate import Evaluator
from ezgan.lab.metrics import (CONFIDENT, METRICS, SPLITS, check_images, classifier_score, feature_statistics,
                               frechet_distance, label_agreement, label_statistics, metrics_row, quality_targets,
                               shares_in_range_since)
from ezgan.paths import REPO


def log(probabilities):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probabilities, np.float64))


def test_importing_the_metrics_does_not_import_tensorflow():
    code = "import sys, ezgan.lab.metrics; print('tensorflow' in sys.modules, 'ezgan.lab.evaluate' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_classifier_score_of_known_probabilities():
    one_hot_each_digit = np.tile(np.eye(10), (10, 1))
    assert classifier_score(log(one_hot_each_digit)) == pytest.approx((10, 0))
    assert classifier_score(log(np.full((100, 10), 0.1))) == pytest.approx((1, 0))
    two_digits = np.tile(np.eye(10)[:2], (50, 1))
    assert classifier_score(log(two_digits)) == pytest.approx((2, 0))
    # Half sure of digit 0, half undecided: p(y) = (0.55, 0.05, ...); the exp of the mean KL, not the mean of exps.
    mixed = np.tile([np.eye(10)[0], np.full(10, 0.1)], (50, 1))
    mean_kl = (np.log(1 / 0.55) + 0.1 * np.log(0.1 / 0.55) + 0.9 * np.log(2)) / 2
    assert classifier_score(log(mixed)) == pytest.approx((np.exp(mean_kl), 0))
    with pytest.raises(ValueError, match=f"at least {SPLITS} images"):
        classifier_score(log(two_digits[:SPLITS - 1]))


def test_classifier_score_is_ten_for_uniform_one_hot_predictions_and_one_for_a_single_digit():
    uniform = np.tile(np.eye(10), (100, 1))          # every split holds each digit 10 times
    score, spread = classifier_score(log(uniform))
    assert abs(score - 10) < 1e-9 and abs(spread) < 1e-9
    single = np.tile(np.eye(10)[7], (1000, 1))
    score, spread = classifier_score(log(single))
    assert abs(score - 1) < 1e-9 and abs(spread) < 1e-9
    # log p(y|x) = -inf for the other digits must not turn into NaN.
    assert np.isfinite(classifier_score(np.where(single > 0, 0.0, -np.inf))).all()


def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    statistics = feature_statistics(features)
    assert frechet_distance(statistics, statistics) == pytest.approx(0, abs=1e-8)

    # Diagonal covariances: |m_a - m_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance((mean_a, np.diag(a)), (mean_b, np.diag(b))) == pytest.approx(expected)

    # Covariances that do not commute: for 2x2, Tr (C_a C_b)^(1/2) = sqrt(Tr C_a C_b + 2 sqrt(det C_a C_b)).
    covariance_a = np.array([[2.0, 1.0], [1.0, 2.0]])
    covariance_b = np.array([[3.0, 0.0], [0.0, 1.0]])
    product = covariance_a @ covariance_b
    trace_root = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    expected = np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_root
    assert frechet_distance((np.zeros(2), covariance_a), (np.zeros(2), covariance_b)) == pytest.approx(expected)

    # Equal covariances: only the means differ.
    shift = np.arange(8.0)
    shifted = feature_statistics(features + shift)
    assert frechet_distance(statistics, shifted) == pytest.approx(np.sum(shift ** 2), rel=1e-6)


def test_frechet_distance_is_symmetric_and_zero_for_identical_statistics():
    rng = np.random.default_rng(1)
    a = feature_statistics(rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6))
    b = feature_statistics(rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)))
    assert frechet_distance(a, b) > 0
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    for statistics in (a, b, (np.zeros(3), np.zeros((3, 3))), (np.ones(4), np.eye(4))):
        assert frechet_distance(statistics, statistics) == pytest.approx(0, abs=1e-9)
        assert frechet_distance(statistics, statistics) >= 0


def test_feature_statistics_are_the_mean_and_covariance():
    features = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mean, covariance = feature_statistics(features)
    assert mean == pytest.approx([2, 2])
    assert covariance == pytest.approx(np.array([[4, 3], [3, 3]]))
    for bad in (np.zeros((1, 3)), np.zeros(5)):
        with pytest.raises(ValueError, match=r"shaped \(n, d\) with n >= 2"):
            feature_statistics(bad)


def test_label_statistics_shares_kl_and_confidence():
    probabilities = np.full((4, 10), 0.01)
    probabilities[[0, 1, 2, 3], [3, 3, 7, 7]] = [0.91, 0.5, 0.95, 0.3]
    shares, digit_kl, confident_share = label_statistics(np.log(probabilities))
    assert shares.sum() == pytest.approx(1)
    assert shares[3] == shares[7] == 0.5
    assert digit_kl == pytest.approx(np.log(5))
    assert confident_share == 0.5


def test_label_statistics_kl_is_zero_for_uniform_shares_and_log_10_for_one_digit():
    shares, digit_kl, confident_share = label_statistics(log(np.tile(np.eye(10), (3, 1))))
    assert shares == pytest.approx(np.full(10, 0.1))
    assert digit_kl == pytest.approx(0, abs=1e-12)
    assert confident_share == 1
    shares, digit_kl, confident_share = label_statistics(log(np.full((20, 10), 0.1)) + np.eye(10)[4] * 1e-3)
    assert list(shares) == [0] * 4 + [1] + [0] * 5
    assert digit_kl == pytest.approx(np.log(10))
    assert confident_share == 0        # p(y|x) about 0.1 < CONFIDENT
    assert CONFIDENT == 0.9


def test_label_agreement_is_the_share_named_as_asked_overall_and_per_digit():
    """A stub classifier's known answers: 7 asked three times and named twice, 1 asked once and named, 3 never asked."""
    named = [7, 7, 2, 1]
    log_probabilities = log(np.eye(10)[named] * 0.91 + 0.01)
    overall, per_digit = label_agreement(log_probabilities, asked=[7, 7, 7, 1])
    assert overall == 0.75
    assert per_digit[7] == pytest.approx(2 / 3) and per_digit[1] == 1 and np.isnan(per_digit[3])


def test_the_evaluator_adds_label_agreement_when_told_the_digits_asked_for():
    class StubClassifier:
        def predict(self, images):
            digits = np.arange(len(images)) % 10
            digits[0] = 5   # the first image, asked for a 0, is named 5
            return np.log(np.eye(10)[digits] * 0.91 + 0.01), np.eye(10)[digits]

    evaluator = Evaluator.__new__(Evaluator)
    evaluator.classifier = StubClassifier()
    evaluator.test_statistics = feature_statistics(np.eye(10)[np.arange(100) % 10])
    images = np.zeros((20, 28, 28), np.float32)
    assert "label_agreement" not in evaluator.evaluate(images)
    row = evaluator.evaluate(images, asked=np.arange(20) % 10)
    assert row["label_agreement"] == 19 / 20
    assert row["label_agreement_per_digit"] == [0.5] + [1.0] * 9


def test_metrics_row_holds_every_measure():
    rng = np.random.default_rng(2)
    log_probabilities = log(np.tile(np.eye(10), (5, 1)))
    features = rng.normal(size=(50, 4))
    row = metrics_row(log_probabilities, features, feature_statistics(features))
    assert set(row) == {"n", "digit_shares", *METRICS}
    assert row["n"] == 50
    assert row["classifier_score"] == pytest.approx(10 / 2, rel=1e-9)   # each split of 5 holds 5 digits
    assert row["frechet_distance"] == pytest.approx(0, abs=1e-9)
    assert row["digit_kl"] == pytest.approx(0, abs=1e-12) and row["confident_share"] == 1
    assert row["digit_shares"] == pytest.approx([0.1] * 10) and isinstance(row["digit_shares"], list)


@pytest.mark.parametrize("images, message", [
    (np.zeros((20, 784)), r"shaped \(n, 28, 28\)"),
    (np.zeros((20, 28, 28, 1)), r"shaped \(n, 28, 28\)"),
    (np.zeros((0, 28, 28)), r"shaped \(n, 28, 28\)"),
    (np.full((20, 28, 28), "a"), "must be numbers"),
    (np.full((20, 28, 28), 255, np.uint8), r"\[0, 1\].*from 255 to 255"),
    (np.full((20, 28, 28), -0.5), r"\[0, 1\]"),
    (np.full((20, 28, 28), np.nan), "NaN"),
    (np.full((20, 28, 28), np.inf), "infinite"),
])
def test_bad_images_are_refused_in_one_line(images, message):
    with pytest.raises(ValueError, match=message) as error:
        check_images(images)
    assert "\n" not in str(error.value)


def test_good_images_come_back_as_float32():
    images = check_images(np.ones((3, 28, 28), np.float64))
    assert images.dtype == np.float32 and images.shape == (3, 28, 28)
    assert check_images(np.zeros((1, 28, 28), np.uint8)).dtype == np.float32


def test_the_quality_targets_pass_real_digits_and_fail_the_tutorials_model():
    """On the committed evaluation: real training images clear every bar, the bundled tutorial model none."""
    rows = json.loads((REPO / "pretrained" / "evaluation.json").read_text())["rows"]
    model, references = next(iter(rows.values())), dict(list(rows.items())[1:])
    real = next(row for name, row in rows.items() if name.startswith("real training images"))
    assert [met for _, _, met in quality_targets(real, references)] == [True] * 4
    assert [met for _, _, met in quality_targets(model, references)] == [False] * 4


def test_a_row_exactly_at_each_bar_meets_it_and_just_past_it_does_not():
    references = {"real test set (10) vs itself": dict(classifier_score=10.0),
                  "real training images (10)": dict(frechet_distance=1.0)}
    at = dict(classifier_score=9.5, digit_shares=[0.07, 0.13] + [0.1] * 8, digit_kl=0.02, frechet_distance=3.0)
    assert [met for _, _, met in quality_targets(at, references)] == [True] * 4
    past = dict(classifier_score=9.49, digit_shares=[0.069, 0.131] + [0.1] * 8, digit_kl=0.021, frechet_distance=3.01)
    assert [met for _, _, met in quality_targets(past, references)] == [False] * 4
    assert quality_targets(past, references)[1][1] == "6.9% (digit 0) to 13.1% (digit 1)"


def test_the_shares_are_in_range_since_the_first_milestone_after_which_they_never_leave_it():
    even, lopsided = [0.1] * 10, [0.22] + [0.78 / 9] * 9
    rows = [dict(iteration=1000 * (k + 1), digit_shares=shares)
            for k, shares in enumerate([lopsided, even, lopsided, even, even])]
    assert shares_in_range_since(rows) == 4000   # in range at 2,000, but out again at 3,000
    assert shares_in_range_since(rows[:3]) is None
    assert shares_in_range_since([dict(iteration=500, digit_shares=[0.07, 0.13] + [0.1] * 8)]) == 500
