"""Sampling from a checkpoint, the command line, and what bad input gets."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ezgan.errors import CheckpointError
from ezgan.paths import REPO
from ezgan.lab.checkpoints import checkpoint_label
from ezgan.lab.checkpoints import sample as checked_sample
from ezgan.grids import grid_image
from ezgan.sample import Sampler, sample
from tests.conftest import run_ezgan

v1 = tf.compat.v1
EZGAN = pathlib.Path(sys.executable).parent / "ezgan"   # the console script `pip install -e .` made


def cli(*args, cwd=REPO):
    return run_ezgan(*args, cwd=cwd)


@pytest.mark.slow
def test_sampler_generates_in_training_sized_batches(short_run):
    sampler = Sampler(short_run[1])
    try:
        z = sampler.noise(120, seed=4)
        assert z.shape == (120, 100)
        first = sampler.generate(z)
        # Batch norm uses the statistics of each batch of 50: the first 50 do not depend on the rest.
        np.testing.assert_allclose(sampler.generate(z[:50]), first[:50], atol=1e-6)
        with pytest.raises(ValueError, match=r"z must be shaped \(n, 100\)"):
            sampler.generate(z[:, :99])
        with pytest.raises(ValueError, match="n must be in 1..1,000,000, got 0"):
            sampler.sample(0)
    finally:
        sampler.close()


def test_a_digit_does_not_depend_on_how_many_were_asked_for(short_run):
    """Every batch-norm batch is whole: the last digits of n = 64 are not normalised over 14 alone."""
    ten, sixty_four = sample(10, 5, short_run[1]), sample(64, 5, short_run[1])
    np.testing.assert_array_equal(ten, sixty_four[:10])
    sampler = Sampler(short_run[1])
    try:
        z = sampler.noise(64, seed=5)
        np.testing.assert_array_equal(sampler.generate(z)[50:], sampler.generate(z[50:]))
    finally:
        sampler.close()


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in this directory"):
        checked_sample(checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match="nowhere/model.ckpt-1: no such checkpoint"):
        checked_sample(checkpoint=tmp_path / "nowhere" / "model.ckpt-1")
    with pytest.raises(CheckpointError, match="no checkpoint in this folder"):   # the tutorial's own, unchecked
        sample(checkpoint=tmp_path)


def write_checkpoint(path, variables):
    with tf.Graph().as_default():
        made = [v1.get_variable(name, shape) for name, shape in variables.items()]
        with v1.Session() as sess:
            sess.run(v1.variables_initializer(made))
            v1.train.Saver(made).save(sess, str(path))


def test_checkpoint_with_missing_or_misshapen_variables_is_refused(tmp_path):
    write_checkpoint(tmp_path / "partial", {"g_w1": [100, 3136], "g_b1": [7]})
    with pytest.raises(CheckpointError) as error:
        checked_sample(checkpoint=tmp_path / "partial")
    message = str(error.value)
    assert "g_b1 has shape [7], the model needs [3136]" in message
    assert "g_w2 missing" in message and "g_b3/moving_variance missing" in message


@pytest.mark.slow
def test_sample_command_writes_a_png_and_an_array(short_run, tmp_path):
    checkpoint = str(short_run[1])
    png = cli("sample", "--checkpoint", checkpoint, "--n", "10", "--out", str(tmp_path / "s.png"))
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npy = cli("sample", "--checkpoint", checkpoint, "--n", "10", "--seed", "3", "--out", str(tmp_path / "s.npy"))
    assert npy.returncode == 0, npy.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), sample(10, 3, checkpoint))


@pytest.mark.slow
def test_several_checkpoints_give_labelled_grids_side_by_side(short_run, tmp_path):
    """`make run`'s picture: one grid per --checkpoint, left to right, each the grid one checkpoint alone gives."""
    from PIL import Image

    checkpoints = ["pretrained", str(short_run[1])]
    out = tmp_path / "both.png"
    result = cli("sample", *(x for c in checkpoints for x in ("--checkpoint", c)), "--n", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 2 grids of 16 digits to {out}"
    assert [checkpoint_label(c) for c in checkpoints] == ["pretrained: tutorial recipe",
                                                          f"{short_run[1]}: tutorial recipe"]
    both = np.asarray(Image.open(out))
    for k, checkpoint in enumerate(checkpoints):
        alone = np.asarray(grid_image(sample(16, 0, checkpoint)))
        band = both.shape[0] - alone.shape[0]
        assert band > 0 and (both[:band] < 128).any(), "a label above each grid"
        left = k * (both.shape[1] - alone.shape[1])
        np.testing.assert_array_equal(both[band:, left:left + alone.shape[1]], alone)


@pytest.mark.slow
def test_readmes_picture_of_the_bundled_models_is_what_its_command_writes(tmp_path):
    """docs/bundled_models.png (README's first picture) is `make run`'s picture, as README's command writes it."""
    from PIL import Image

    out = tmp_path / "all.png"
    result = cli("sample", "--checkpoint", "pretrained", "--checkpoint", "pretrained/improved", "--checkpoint",
                 "pretrained/conditional", "--out", str(out), "--n", "60", "--seed", "0")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)),
                                  np.asarray(Image.open(REPO / "docs" / "bundled_models.png")))
    readme = (REPO / "README.md").read_text().replace("\n", " ")
    assert ("ezgan sample --checkpoint pretrained --checkpoint pretrained/improved --checkpoint pretrained/conditional "
            "--out docs/bundled_models.png --n 60 --seed 0") in readme
    makefile = (REPO / "Makefile").read_text().replace("\\\n\t\t", "")
    assert ("sample --checkpoint pretrained --checkpoint pretrained/improved --checkpoint pretrained/conditional "
            "--out samples.png --n 60 --seed 0") in makefile


@pytest.mark.parametrize("args, message", [
    (["sample", "--n", "0"], "--n: must be a positive integer, got 0"),
    (["train", "--iterations", "-5"], "--iterations: must be zero or more, got -5"),
    (["train", "--seed", "-1"], "--seed: must be zero or more, got -1"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every: must be a positive integer"),
    (["sample", "--checkpoint", "no/such/dir"], "no/such/dir: no such checkpoint"),
    (["sample", "--out", "digits.jpg"], "--out must end in .png or .npy"),
    (["sample", "--checkpoint", "a", "--checkpoint", "b", "--out", "d.npy"], "several --checkpoint need a .png --out"),
    (["train", "--resume", "--checkpoint-dir", "no/such/run"], "no run to resume here"),
])
@pytest.mark.slow
def test_bad_command_lines_get_one_clear_line(args, message, tmp_path):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]   # argparse prints its usage lines first
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dry_run_trains_and_writes_nothing(tmp_path):
    result = cli("train", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "D(x)" in result.stdout and "nothing was written" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_of_a_prefix_without_a_step_is_one_line(tmp_path):
    write_checkpoint(tmp_path / "model", {"g_w1": [100, 3136]})
    result = cli("export", "--checkpoint", str(tmp_path / "model"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"ezgan export: error: {tmp_path / 'model'}: not a numbered checkpoint " \
                                    "(NAME-STEP); give a run's folder or a prefix such as model.ckpt-1300"


@pytest.mark.slow
def test_the_installed_command_samples_from_any_folder_and_prints_one_line(tmp_path):
    """`pip install -e .` then `ezgan sample` elsewhere: pretrained/ found through the package, no TF noise."""
    result = subprocess.run([str(EZGAN), "sample", "--n", "16", "--out", "x.png"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "wrote 16 digits to x.png\n"
    assert result.stderr == ""
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
