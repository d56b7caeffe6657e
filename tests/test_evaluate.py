"""The evaluator: the committed classifier, its rows on sets whose answer is known, bad input, the CLI.

The measures themselves, on plain arrays, are tested in test_metrics.py.
"""
import csv
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from ezgan.lab import evaluate
from ezgan.runs.checkpoints import resolve_checkpoint
from ezgan.errors import CheckpointError, EzganError
from ezgan.lab.evaluate import Classifier, Evaluator
from ezgan.graph import build_graph
from ezgan.hparams import Z_DIM
from ezgan.model import generator
from ezgan.paths import REPO
from ezgan.sample import sample
from ezgan.runs.training import train
from tests.conftest import run_ezgan

v1 = tf.compat.v1
CLASSIFIER = REPO / "pretrained" / "classifier"


@pytest.fixture(scope="module")
def evaluator(mnist):
    evaluator = Evaluator(CLASSIFIER, data=mnist)
    yield evaluator
    evaluator.close()


@pytest.fixture(scope="module")
def test_set_row(evaluator):
    return evaluator.metrics(*evaluator.test_predictions)


@pytest.fixture(scope="module")
def milestone_run(tmp_path_factory):
    """A real, very short run with milestones: 2 pre-training steps, milestones at iterations 5 and 10."""
    run = tmp_path_factory.mktemp("milestone_run")
    train(iterations=10, pretrain_steps=2, milestone_every=5, checkpoint_every=5, checkpoint_dir=str(run),
          progress=False, seed=4)
    return run


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


def cli(*args, cwd):
    return run_ezgan(*args, cwd=cwd)


def assert_user_error(result, command, *named):
    """Exit status 2 and one line on stderr, ``ezgan COMMAND: error: ...``, naming each of ``named``."""
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith(f"ezgan {command}: error: "), message
    for text in named:
        assert str(text) in message


def test_the_committed_classifier_reaches_99_percent_on_the_test_set(evaluator, mnist):
    predicted = evaluator.test_predictions[0].argmax(axis=1)
    accuracy = np.mean(predicted == mnist.test.labels)
    assert accuracy >= 0.99
    assert evaluator.classifier.info["test_accuracy"] == pytest.approx(accuracy, abs=5e-4)


def test_the_committed_classifier_holds_model_variables_only_under_its_scope():
    stored = dict(v1.train.list_variables(resolve_checkpoint(CLASSIFIER)))
    assert stored and all(name.startswith("classifier/") for name in stored)
    assert not [name for name in stored if "Adam" in name or "power" in name or "step" in name]
    assert sum(np.prod(shape) for shape in stored.values()) * 4 < 5_000_000


def test_the_default_classifier_is_the_committed_one():
    classifier = Classifier()
    classifier.close()
    assert classifier.checkpoint == str(CLASSIFIER / evaluate.CLASSIFIER_CHECKPOINT)
    assert evaluate.classifier_dir() == CLASSIFIER
    assert classifier.info["features"] == evaluate.FEATURES


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


@pytest.mark.parametrize("images, message", [
    (np.zeros((20, 784)), r"shaped \(n, 28, 28\)"),
    (np.full((20, 28, 28), 255, np.uint8), r"\[0, 1\].*from 255 to 255"),
    (np.zeros((9, 28, 28)), "at least 10 images"),
])
def test_the_evaluator_refuses_bad_images_in_one_line(evaluator, images, message):
    with pytest.raises(ValueError, match=message) as error:
        evaluator.evaluate(images)
    assert one_line(error)


def test_a_missing_or_wrong_classifier_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nowhere'}.*`ezgan train-classifier`") as error:
        Classifier(tmp_path / "nowhere")
    assert one_line(error) and "make classifier" in str(error.value)
    prefix = save_generator(tmp_path / "gan" / "model.ckpt", seed=0)
    with pytest.raises(CheckpointError, match="classifier/conv1/weights missing") as error:
        Classifier(prefix)
    assert one_line(error)


def test_the_untrained_generator_gets_the_noise_of_sample(tmp_path):
    """The reference row's untrained generator and a checkpoint of it, sampled with the same seed: the same digits."""
    gan = build_graph(seed=3)
    with gan.graph.as_default():
        saver = v1.train.Saver(var_list=gan.model_variables)
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        prefix = saver.save(sess, str(tmp_path / "model.ckpt-0"), write_meta_graph=False)
    n = 70                                          # not whole batches of 50
    images = evaluate.untrained_generator_images(n, seed=3)
    assert images.shape == (n, 28, 28)
    np.testing.assert_allclose(images, sample(n, 3, prefix), atol=1e-5)


def test_a_number_of_images_the_metrics_cannot_use_is_a_user_error_naming_n(evaluator, tmp_path):
    prefix = save_generator(tmp_path / "gan" / "model.ckpt-300", seed=1)
    with pytest.raises(EzganError, match="--n must be at least 10") as error:
        evaluate.evaluate_checkpoint(prefix, 9, seed=0)
    assert one_line(error)
    with pytest.raises(EzganError, match="--n must be at most 55,000 for the reference rows") as error:
        evaluator.reference_rows(55_001, seed=0)
    assert one_line(error)
    with pytest.raises(EzganError, match="--n must be at least 10"):
        evaluate.quality_curve(tmp_path / "gan", tmp_path / "curve", evaluator, n=5, progress=False)


def test_the_quality_curve_measures_every_milestone(evaluator, test_set_row, tmp_path):
    """Milestones without a run.json: the tutorial's 300 pre-training steps. Reference rows given are used as is."""
    milestones = tmp_path / "run" / "milestones"
    for step, seed in ((5300, 2), (300, 1)):
        save_generator(milestones / f"model.ckpt-{step}", seed)
    given = {"real test set": test_set_row}
    rows, references = evaluate.quality_curve(milestones, tmp_path / "curve", evaluator, n=20, seed=0,
                                              progress=False, references=given, name="~/run/milestones")
    assert references is given
    assert [(row["iteration"], row["n"]) for row in rows] == [(0, 20), (5000, 20)]
    assert rows[0]["checkpoint"] == "~/run/milestones/model.ckpt-300"
    with open(tmp_path / "curve.csv") as file:
        table = list(csv.DictReader(file))
    assert [int(row["iteration"]) for row in table] == [0, 5000]
    assert float(table[1]["frechet_distance"]) == pytest.approx(rows[1]["frechet_distance"], rel=1e-5)
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    written = json.loads((tmp_path / "curve.json").read_text())
    assert (written["milestones"], written["n"], written["pretrain_steps"]) == ("~/run/milestones", 20, 300)
    assert written["references"] == given


def test_an_empty_or_absent_milestones_folder_is_refused(evaluator, tmp_path):
    for folder, message in ((tmp_path, "no checkpoints here"), (tmp_path / "absent", "no such milestones folder")):
        with pytest.raises(CheckpointError, match=message) as error:
            evaluate.quality_curve(folder, tmp_path / "curve", evaluator, n=20, progress=False)
        assert one_line(error)
    assert not (tmp_path / "curve.csv").exists()


@pytest.mark.slow
def test_the_cli_reports_user_errors_in_one_line_with_status_2(tmp_path):
    prefix = save_generator(tmp_path / "gan" / "model.ckpt-300", seed=1)
    assert_user_error(cli("evaluate", "--checkpoint", prefix, "--n", "5", cwd=tmp_path), "evaluate", "--n", "got 5")
    assert_user_error(cli("curve", "--milestones", tmp_path / "gan", "--classifier", tmp_path / "nowhere",
                          "--out", tmp_path / "curve", cwd=tmp_path),
                      "curve", tmp_path / "nowhere", "ezgan train-classifier")


@pytest.mark.slow
def test_the_cli_evaluates_a_checkpoint_with_reference_rows_keeping_n_and_classifier(tmp_path):
    """Regression: the old parser let a subcommand's defaults overwrite --n and --classifier given to evaluate."""
    prefix = save_generator(tmp_path / "gan" / "model.ckpt-300", seed=1)
    copy = shutil.copytree(CLASSIFIER, tmp_path / "my classifier")
    out = tmp_path / "evaluation.json"
    result = cli("evaluate", "--checkpoint", prefix, "--n", "500", "--seed", "3", "--references", "--json", out,
                 "--classifier", copy, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    assert list(written["rows"]) == [prefix, "real test set (10,000) vs itself", "real training images (500)",
                                     "untrained generator (seed 3)"]
    assert all(name in result.stdout for name in written["rows"])
    assert all(row["n"] == (10_000 if name.startswith("real test") else 500) for name, row in written["rows"].items())
    assert (written["n"], written["seed"]) == (500, 3)
    assert written["classifier"] == str(copy / evaluate.CLASSIFIER_CHECKPOINT)
    assert written["classifier_test_accuracy"] >= 0.99


@pytest.mark.slow
def test_the_cli_curve_evaluates_n_digits_per_milestone(milestone_run, tmp_path):
    """Regression: ``ezgan curve --n 500`` measured 10,000 digits per point (the parent parser's default won)."""
    out = tmp_path / "curves" / "quality"
    result = cli("curve", "--n", "500", "--milestones", milestone_run / "milestones", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["n"] == 500 and written["pretrain_steps"] == 2
    assert [(row["iteration"], row["step"], row["n"]) for row in written["rows"]] == [(5, 7, 500), (10, 12, 500)]
    assert written["references"]["real training images (500)"]["n"] == 500
    assert "iteration 5" in result.stdout and "iteration 10" in result.stdout
    with open(out.with_suffix(".csv")) as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == [7, 12]
    assert out.with_suffix(".png").stat().st_size > 10_000
