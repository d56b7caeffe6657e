"""Training: which variables each trainer moves, the fast step's equivalence, events, resume."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ezgan.checkpoints import RunCheckpoints
from ezgan.graph import build_graph
from ezgan.sample import sample
from ezgan.train import step_noise, train

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


def train_command(checkpoint_dir, *extra):
    return [sys.executable, "-m", "ezgan", "train", "--pretrain-steps", "2", "--checkpoint-every", "10",
            "--seed", "9", "--checkpoint-dir", str(checkpoint_dir), "--logdir", str(checkpoint_dir / "tb"), *extra]


def final_variables(checkpoint_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(checkpoint_dir)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_killed_run_resumes_where_its_checkpoint_left_off(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    env = dict(os.environ)
    process = subprocess.Popen(train_command(killed, "--iterations", "1000"), env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (killed / "train.ckpt-22.index").exists():
        assert process.poll() is None and time.monotonic() < deadline, "no second checkpoint appeared"
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved_step = json.loads((killed / "run.json").read_text())["step"]
    assert saved_step >= 22
    saved = final_variables(killed)

    g = build_graph(seed=0)
    checkpoints = RunCheckpoints(g, str(killed))
    with v1.Session(graph=g.graph) as sess:
        assert checkpoints.restore_latest(sess) == saved_step
        for var in g.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES):
            np.testing.assert_array_equal(sess.run(var), saved[var.op.name], err_msg=var.op.name)

    subprocess.run(train_command(killed, "--iterations", "40", "--resume"), env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run(train_command(whole, "--iterations", "40"), env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    # Training is deterministic, so the resumed run must end bit for bit where the whole one does.
    resumed, uninterrupted = final_variables(killed), final_variables(whole)
    assert resumed["global_step"] == uninterrupted["global_step"] == 42
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
