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

from ezgan.graph import build_graph, session_config
from ezgan.sample import sample
from ezgan.train import (fast_iteration, literal_iteration, pretrain_step,
                         restore_or_initialize, step_noise, train)

from conftest import REPO

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


def changed(sess, g, run):
    variables = g.d_vars + g.g_vars
    before = sess.run(variables)
    run()
    return {v.op.name for v, old, new in zip(variables, before, sess.run(variables)) if not np.array_equal(old, new)}


def test_one_d_trainer_real_step_changes_only_d_variables(graph_and_session, mnist):
    g, sess = graph_and_session
    real, z_d, _ = inputs(mnist, 1)[0]
    moved = changed(sess, g, lambda: sess.run(g.d_trainer_real, {g.x: real, g.z: z_d}))
    assert moved == {v.op.name for v in g.d_vars}


def test_one_g_trainer_step_changes_only_g_variables(graph_and_session, mnist):
    g, sess = graph_and_session
    _, z_d, _ = inputs(mnist, 1)[0]
    moved = changed(sess, g, lambda: sess.run(g.g_trainer, {g.z: z_d}))
    assert moved == {v.op.name for v in g.g_vars}


def generator_first_iteration(sess, g, real, z_d, z_g):
    """A different iteration (G steps before D), to show the comparison below can tell."""
    sess.run(g.g_trainer, {g.z: z_g})
    sess.run([g.d_trainer_real, g.d_trainer_fake], {g.x: real, g.z: z_d})
    sess.run(g.increment_step)


def iterate_from(sess, g, everything, initial, batches, iterate, reorder=None):
    """Load ``initial`` into ``everything``, run 3 pre-training steps and the rest as iterations."""
    for var, value in zip(everything, initial):
        var.load(value, sess)
    for step, batch in enumerate(batches):
        real, z_d, z_g = batch if reorder is None else (part[reorder] for part in batch)
        if step < 3:
            pretrain_step(sess, g, real, z_d, literal=iterate is not fast_iteration)
        else:
            iterate(sess, g, real, z_d, z_g)
    return dict(zip([v.op.name for v in everything], sess.run(everything)))


def far_from_the_literal_loop(mnist, graph_seed, input_seed):
    """Which variables train_step and a wrong iteration leave far from the literal loop.

    "Far" is beyond 4x the tutorial's own float32 noise: the distance of the literal loop run on
    the same batches in other orders (a batch-mean loss and batch statistics do not depend on the
    order, only the rounding does), plus 1e-6 of the variable's norm. Returns (far for train_step,
    far for the G step first, variables the literal loop left unmoved).
    """
    g = build_graph(seed=graph_seed)
    batches = inputs(mnist, 8, seed=input_seed)
    reorderings = {f"literal, batch order {k}": np.random.default_rng(k).permutation(50) for k in range(3)}
    everything = g.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        sess.run(g.init)
        initial = sess.run(everything)
        results = {name: iterate_from(sess, g, everything, initial, batches, literal_iteration, reorder)
                   for name, reorder in {"literal": None, **reorderings}.items()}
        results["fast"] = iterate_from(sess, g, everything, initial, batches, fast_iteration)
        results["G step first"] = iterate_from(sess, g, everything, initial, batches, generator_first_iteration)
    literal = results["literal"]
    assert results["fast"]["global_step"] == literal["global_step"] == 8

    def distance(name, var):
        return np.linalg.norm(results[name][var] - literal[var])

    def far(name):
        return [var for var in literal
                if distance(name, var) > 4 * max(distance(other, var) for other in reorderings)
                + 1e-6 * np.linalg.norm(literal[var])]

    unmoved = [v.op.name for v, value in zip(everything, initial)
               if v in g.d_vars + g.g_vars and np.array_equal(literal[v.op.name], value)]
    return far("fast"), far("G step first"), unmoved


def test_fast_path_computes_the_tutorials_iteration(mnist):
    """Same initial weights, real batches and noise: the literal loop and train_step agree.

    train_step computes the same function with other kernels and in another order: rounded
    differently. Adam turns rounding differences into whole steps wherever a gradient is near
    zero (its step is lr * sign(gradient) there), so "agree" is measured against the tutorial's own
    float32 noise (``far_from_the_literal_loop``), every variable and all optimizer state. A
    different iteration (the G step first) is far on every seed. Rounding can also flip a ReLU
    unit of one example, which moves a gradient by that example's share: seen for train_step on
    one of these seeds (its real-image Adam state ~5e-6 away from four literal runs that agree to
    1e-7, after 5 iterations). So train_step may be far on one seed of three, not on two.
    (The tutorial's single ``sess.run([d_trainer_real, d_trainer_fake])`` leaves the order of the
    two updates to TF's scheduler; train_step fixes it, both from the step's starting weights.)
    """
    far_on_seed = {}
    for seeds in [(3, 5), (0, 0), (1, 1)]:
        far_fast, far_generator_first, unmoved = far_from_the_literal_loop(mnist, *seeds)
        assert unmoved == [], seeds
        assert {"g_w1", "g_w2", "g_w3", "d_w2", "d_w3"} <= set(far_generator_first), seeds
        if far_fast:
            far_on_seed[seeds] = far_fast
    assert len(far_on_seed) <= 1, f"train_step is far from the literal loop on several seeds: {far_on_seed}"


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
    env = {**os.environ, "PYTHONPATH": str(REPO)}
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
    with g.graph.as_default():
        saver = v1.train.Saver()
    with v1.Session(graph=g.graph) as sess:
        assert restore_or_initialize(sess, g, saver, str(killed)) == saved_step
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
