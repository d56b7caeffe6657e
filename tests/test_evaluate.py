"""The evaluator: the committed classifier, the metrics on sets whose answer is known, bad input, the CLI."""
import argparse
import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from ezgan import evaluate
from ezgan.evaluate import (CLASSIFIER_DIR, Classifier, Evaluator, classifier_score, feature_statistics,
                            frechet_distance, label_statistics)
from ezgan.hparams import Z_DIM
from ezgan.model import generator
from ezgan.sample import CheckpointError

v1 = tf.compat.v1


@pytest.fixture(scope="module")
def evaluator(mnist):
    evaluator = Evaluator(CLASSIFIER_DIR, data=mnist)
    yield evaluator
    evaluator.close()


@pytest.fixture(scope="module")
def test_set_row(evaluator):
    return evaluator.metrics(*evaluator.test_predictions)


def save_generator(prefix, seed):
    """A generator checkpoint with fresh weights, as ``ezgan train`` writes its model.ckpt files."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default():
        v1.set_random_seed(seed)
        generator(v1.placeholder(tf.float32, [None, Z_DIM]), 50, Z_DIM)
        saver = v1.train.Saver(var_list=v1.global_variables())
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return saver.save(sess, str(prefix), write_meta_graph=False)


def one_line(error):
    return "\n" not in str(error.value)


def test_the_committed_classifier_reaches_99_percent_on_the_test_set(evaluator, mnist):
    predicted = evaluator.test_predictions[0].argmax(axis=1)
    accuracy = np.mean(predicted == mnist.test.labels)
    assert accuracy >= 0.99
    assert evaluator.classifier.info["test_accuracy"] == pytest.approx(accuracy, abs=5e-4)


def test_the_committed_classifier_holds_model_variables_only_under_its_scope():
    stored = dict(v1.train.list_variables(evaluate.resolve_checkpoint(CLASSIFIER_DIR)))
    assert stored and all(name.startswith("classifier/") for name in stored)
    assert not [name for name in stored if "Adam" in name or "power" in name or "step" in name]
    assert sum(np.prod(shape) for shape in stored.values()) * 4 < 5_000_000


def test_the_real_test_set_scores_near_the_maximum_and_at_distance_zero_from_itself(test_set_row):
    assert 9 < test_set_row["classifier_score"] <= 10
    assert test_set_row["frechet_distance"] == pytest.approx(0, abs=1e-6)
    assert sum(test_set_row["digit_shares"]) == pytest.approx(1)
    assert all(0.08 < share < 0.12 for share in test_set_row["digit_shares"])
    assert test_set_row["digit_kl"] < 0.01
    assert test_set_row["confident_share"] > 0.95


def test_a_set_of_identical_images_scores_one_and_is_one_digit(evaluator):
    row = evaluator.evaluate(np.zeros((100, 28, 28), np.float32))
    assert row["classifier_score"] == pytest.approx(1, abs=1e-6)
    assert row["classifier_score_std"] == pytest.approx(0, abs=1e-6)
    assert sorted(row["digit_shares"]) == [0] * 9 + [1]
    assert row["digit_kl"] == pytest.approx(np.log(10))
    assert row["frechet_distance"] > 10


def test_real_training_images_are_closer_to_the_test_set_than_noise(evaluator, mnist, test_set_row):
    real = evaluator.evaluate(mnist.train.images[:2000].reshape(-1, 28, 28))
    noise = evaluator.evaluate(np.random.default_rng(0).uniform(0, 1, (2000, 28, 28)))
    assert 0 < real["frechet_distance"] < noise["frechet_distance"] / 10
    assert real["classifier_score"] > 9 and noise["classifier_score"] < 5
    assert sum(noise["digit_shares"]) == pytest.approx(1)


def test_classifier_score_of_known_probabilities():
    def log(probabilities):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(probabilities, np.float64))

    one_hot_each_digit = np.tile(np.eye(10), (10, 1))
    assert classifier_score(log(one_hot_each_digit)) == pytest.approx((10, 0))
    assert classifier_score(log(np.full((100, 10), 0.1))) == pytest.approx((1, 0))
    two_digits = np.tile(np.eye(10)[:2], (50, 1))
    assert classifier_score(log(two_digits)) == pytest.approx((2, 0))
    # Half sure of digit 0, half undecided: p(y) = (0.55, 0.05, ...); the exp of the mean KL, not the mean of exps.
    mixed = np.tile([np.eye(10)[0], np.full(10, 0.1)], (50, 1))
    mean_kl = (np.log(1 / 0.55) + 0.1 * np.log(0.1 / 0.55) + 0.9 * np.log(2)) / 2
    assert classifier_score(log(mixed)) == pytest.approx((np.exp(mean_kl), 0))
    with pytest.raises(ValueError, match="at least 10 images"):
        classifier_score(log(two_digits[:9]))


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


def test_label_statistics_shares_kl_and_confidence():
    probabilities = np.full((4, 10), 0.01)
    probabilities[[0, 1, 2, 3], [3, 3, 7, 7]] = [0.91, 0.5, 0.95, 0.3]
    shares, digit_kl, confident_share = label_statistics(np.log(probabilities))
    assert shares.sum() == pytest.approx(1)
    assert shares[3] == shares[7] == 0.5
    assert digit_kl == pytest.approx(np.log(5))
    assert confident_share == 0.5


@pytest.mark.parametrize("images, message", [
    (np.zeros((20, 784)), r"shaped \(n, 28, 28\)"),
    (np.zeros((20, 28, 28, 1)), r"shaped \(n, 28, 28\)"),
    (np.zeros((0, 28, 28)), r"shaped \(n, 28, 28\)"),
    (np.full((20, 28, 28), 255, np.uint8), r"\[0, 1\].*from 255 to 255"),
    (np.full((20, 28, 28), -0.5), r"\[0, 1\]"),
    (np.full((20, 28, 28), np.nan), "NaN"),
    (np.zeros((9, 28, 28)), "at least 10 images"),
])
def test_bad_images_are_refused_in_one_line(evaluator, images, message):
    with pytest.raises(ValueError, match=message) as error:
        evaluator.evaluate(images)
    assert one_line(error)


def test_a_missing_or_wrong_classifier_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nowhere'}.*train-classifier") as error:
        Classifier(tmp_path / "nowhere")
    assert one_line(error)
    prefix = save_generator(tmp_path / "gan" / "model.ckpt", seed=0)
    with pytest.raises(CheckpointError, match="classifier/conv1/weights missing") as error:
        Classifier(prefix)
    assert one_line(error)


def test_the_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as exited:
        evaluate.main(["--checkpoint", str(tmp_path / "nowhere")])
    assert str(exited.value).startswith("error: ") and str(tmp_path / "nowhere") in str(exited.value)
    assert one_line(exited)


def test_the_cli_evaluates_a_checkpoint_with_reference_rows(tmp_path, capsys):
    prefix = save_generator(tmp_path / "gan" / "model.ckpt-300", seed=1)
    out = tmp_path / "evaluation.json"
    evaluate.main(["--checkpoint", prefix, "--n", "50", "--seed", "3", "--references", "--json", str(out),
                   "--classifier", str(CLASSIFIER_DIR)])
    table = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert list(written["rows"]) == [prefix, "real test set (10,000) vs itself", "real training images (50)",
                                     "untrained generator (seed 3)"]
    assert all(name in table for name in written["rows"])
    assert all(row["n"] == (10_000 if name.startswith("real test") else 50) for name, row in written["rows"].items())
    assert written["classifier_test_accuracy"] >= 0.99


def test_the_quality_curve_measures_every_milestone(evaluator, tmp_path):
    milestones = tmp_path / "run" / "milestones"
    for step, seed in ((5300, 2), (300, 1)):
        save_generator(milestones / f"model.ckpt-{step}", seed)
    rows, references = evaluate.quality_curve(milestones, tmp_path / "curve", evaluator, n=20, seed=0,
                                              progress=False)
    assert [row["iteration"] for row in rows] == [0, 5000]
    with open(tmp_path / "curve.csv") as file:
        table = list(csv.DictReader(file))
    assert [int(row["iteration"]) for row in table] == [0, 5000]
    assert float(table[1]["frechet_distance"]) == pytest.approx(rows[1]["frechet_distance"], rel=1e-5)
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    assert len(json.loads((tmp_path / "curve.json").read_text())["references"]) == len(references) == 3


def test_an_empty_milestones_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoints"):
        evaluate.milestone_checkpoints(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such milestones folder"):
        evaluate.milestone_checkpoints(tmp_path / "absent")


def test_add_arguments_wires_evaluate_and_its_subcommands_into_a_parent_cli():
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", "--checkpoint", "somewhere", "--n", "20", "--references"])
    assert (args.command, args.evaluate_command, args.checkpoint, args.n, args.references) == \
        ("evaluate", None, "somewhere", 20, True)
    args = parser.parse_args(["evaluate", "curve", "--milestones", "run/milestones", "--n", "2000"])
    assert (args.evaluate_command, args.milestones, args.n, args.pretrain_steps) == \
        ("curve", "run/milestones", 2000, None)
    args = parser.parse_args(["evaluate", "train-classifier", "--epochs", "1"])
    assert (args.evaluate_command, args.epochs, args.out) == ("train-classifier", 1, "pretrained/classifier")
