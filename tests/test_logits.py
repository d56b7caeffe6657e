"""ezgan.lab.logits: a discriminator's mean fake logit read exactly from the logged losses, and training on from a
checkpoint with the logits recorded."""
import numpy as np
import pytest
import tensorflow as tf

from ezgan.graph import build_graph
from ezgan.lab.logits import continue_training, logged_losses, mean_fake_logit
from ezgan.paths import REPO

v1 = tf.compat.v1


def test_d_fake_loss_minus_g_loss_is_the_mean_fake_logit_of_the_batch():
    gan = build_graph(seed=1)
    z = np.random.default_rng(0).normal(0, 3, (50, 100)).astype(np.float32)
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        d_loss_fake, g_loss, logits = sess.run([gan.d_loss_fake, gan.g_loss, gan.Dg_logits], {gan.z: z})
    assert mean_fake_logit(d_loss_fake, g_loss) == pytest.approx(float(np.mean(logits)), abs=1e-5)


def test_the_bundled_runs_logged_losses_are_read_in_step_order():
    losses = logged_losses(REPO / "tensorboard" / "tutorial-run")
    assert set(losses) == {"step", "d_loss_real", "d_loss_fake", "g_loss"}
    assert len(losses["step"]) == 10_000 and np.all(np.diff(losses["step"]) > 0)
    assert losses["step"][0] == 0 and losses["step"][-1] == 99_990
    assert all(len(values) == 10_000 for values in losses.values())


@pytest.mark.slow
def test_training_on_from_the_bundled_model_records_the_mean_logits_of_each_iteration():
    for one_d_optimizer in (False, True):
        rows = continue_training(REPO / "pretrained", one_d_optimizer, iterations=2)
        assert rows.shape == (2, 2) and np.all(np.isfinite(rows)), one_d_optimizer
    # The tutorial's own optimizers: after one more iteration the bundled D still calls real digits fake, sure of it
    # (notebook 7: median D(x) 0.0000).
    assert continue_training(REPO / "pretrained", False, iterations=1)[0, 0] < -5
