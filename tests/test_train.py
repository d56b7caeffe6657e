"""Training: which variables each trainer moves, events, checkpoints (kills and resumes: test_faults.py)."""
import inspect
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ezgan.graph import build_graph
from ezgan.sample import sample
from ezgan.runs.training import train
from ezgan.notebook import IterationCallback
from ezgan.train import step_noise, train_loop
from ezgan.train import train as tutorial_train

v1 = tf.compat.v1


@pytest.fixture(scope="module")
def graph_and_session():
    g = build_graph(seed=2)
    with v1.Session(graph=g.graph) as sess:
        sess.run(g.init)
        yield g, sess


def inputs(mnist, steps, seed=5):
    mnist.train.seek(0)
    return [(mnist.train.next_batch(50)[0].reshape(50, 28, 28, 1), *step_noise(seed, s, 50, 100)[:2])
            for s in range(steps)]


# Fixed expectations, not read from the graph under test.
D_VARIABLES = {"d_w1", "d_b1", "d_w2", "d_b2", "d_w3", "d_b3", "d_w4", "d_b4"}
G_VARIABLES = {"g_w1", "g_b1", "g_w2", "g_b2", "g_w3", "g_b3", "g_w4", "g_b4", "g_b1/beta", "g_b2/beta", "g_b3/beta"}


def changed(sess, g, run):
    variables = g.graph.get_collection(v1.GraphKeys.TRAINABLE_VARIABLES)
    assert {v.op.name for v in variables} == D_VARIABLES | G_VARIABLES
    before = sess.run(variables)
    run()
    return {v.op.name for v, old, new in zip(variables, before, sess.run(variables)) if not np.array_equal(old, new)}


def test_one_d_trainer_real_step_changes_only_d_variables(graph_and_session, mnist):
    g, sess = graph_and_session
    real, z_d, _ = inputs(mnist, 1)[0]
    moved = changed(sess, g, lambda: sess.run(g.d_trainer_real, {g.x: real, g.z: z_d}))
    assert moved == D_VARIABLES


def test_one_g_trainer_step_changes_only_g_variables(graph_and_session, mnist):
    g, sess = graph_and_session
    _, z_d, _ = inputs(mnist, 1)[0]
    moved = changed(sess, g, lambda: sess.run(g.g_trainer, {g.z: z_d}))
    assert moved == G_VARIABLES


def test_short_run_writes_the_tutorials_summaries(short_run):
    logdir, _, history = short_run
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"Generator_loss", "Discriminator_loss_real", "Discriminator_loss_fake"} <= set(tags["scalars"])
    assert {f"Generated_images/image/{k}" for k in range(5)} <= set(tags["images"])
    steps = [event.step for event in events.Scalars("Generator_loss")]
    assert steps == [0, 5, 10, 15]
    logged = [event.value for event in events.Scalars("Discriminator_loss_real")]
    np.testing.assert_allclose(logged, [row["d_loss_real"] for row in history], rtol=1e-6)
    # Seed 1's losses as measured once (tests/conftest.py's short run), not read back from the run.
    np.testing.assert_allclose(logged, [0.666685, 0.632222, 0.581587, 0.509307], rtol=1e-3)
    assert events.Graph() is not None


def test_short_run_checkpoint_is_read_back_by_sample(short_run):
    _, checkpoint_dir, _ = short_run
    digits = sample(n=30, seed=0, checkpoint=checkpoint_dir)
    assert digits.shape == (30, 28, 28) and 0 <= digits.min() and digits.max() <= 1
    np.testing.assert_array_equal(digits, sample(n=30, seed=0, checkpoint=checkpoint_dir))
    run = json.loads((checkpoint_dir / "run.json").read_text())
    assert run["step"] == 23 and run["seed"] == 1
    assert (checkpoint_dir / "grids" / "step0000023.png").exists()


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="iterations"):
        train(iterations=-1, checkpoint_dir=None, logdir=None, progress=False)


def test_train_builds_with_networks_given_as_arguments():
    """Notebook 2's exercise: a network of the reader's own goes to build_graph and trains in the tutorial's loop."""
    from ezgan.model import discriminator
    calls = []

    def my_discriminator(images, reuse_variables=None):
        calls.append(reuse_variables)
        return discriminator(images, reuse_variables, activation=tf.nn.elu)

    rows = tutorial_train(iterations=1, pretrain_steps=1, seed=0, gan=build_graph(seed=0, discriminator=my_discriminator))
    assert calls == [None, True] and len(rows) == 1


@pytest.mark.slow
def test_the_tutorials_train_is_the_engines_literal_run_without_its_hooks():
    """ezgan.train.train and ezgan.runs' literal run train the same: the engine adds durability, not arithmetic."""
    seen = []
    hook = IterationCallback(2, lambda sess, iteration: seen.append(iteration))
    tutorial_rows = tutorial_train(iterations=5, pretrain_steps=2, seed=3, hooks=[hook])
    engine_rows = train(iterations=5, pretrain_steps=2, seed=3, logdir=None, checkpoint_dir=None, literal=True,
                        summary_every=10, progress=False)
    assert seen == [0, 2, 4]
    assert tutorial_rows == engine_rows and [row["iteration"] for row in tutorial_rows] == [0]


def test_the_tutorials_loop_reads_on_one_screen():
    lines = inspect.getsource(train_loop).splitlines()
    assert len(lines) <= 60 and len(inspect.signature(train_loop).parameters) <= 8
