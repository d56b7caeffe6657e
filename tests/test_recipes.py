"""The recipes beyond the tutorial (ezgan.lab.recipes): the guided controller, the switches, their graphs and runs.

Expected values are written here or computed here from first principles (NumPy cross-entropies,
the EMA formula, Adam's beta1 powers), not read from the code under test.
"""
import dataclasses
import json
import math
import types

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ezgan.cli import parser, train_recipe
from ezgan.graph import GANGraph, build_graph, split_variables
from ezgan.lab.checkpoints import open_sampler, sample
from ezgan.lab.graphs import build_recipe_graph, r1_penalty
from ezgan.lab.guided import GuidedSteps, guided_updates
from ezgan.lab.networks import (cycling_labels, dcgan_discriminator, dcgan_generator, leaky_discriminator,
                                minibatch_stddev, projection_discriminator, stddev_discriminator)
from ezgan.lab.recipes import RECIPES, TUTORIAL, Recipe, RecipeError, checkpoint_recipe
from ezgan.lab.training import train
from ezgan.model import discriminator
from ezgan.runs.checkpoints import MILESTONE_TIMES, RunCheckpoints, resolve_checkpoint
from ezgan.runs.state import RunState
from ezgan.train import StepNoise
from tests.conftest import run_ezgan

v1 = tf.compat.v1


# --- 1. The guided controller's decision, and its order within an iteration ------------------------------------

@pytest.mark.parametrize("d_loss_fake, g_loss, d_loss_real, expected", [
    (0.0, 1.0, 0.0, (False, True, False)),      # the initial last-known losses: a G step only
    (0.71, 0.51, 0.46, (True, True, True)),
    (0.7, 0.5, 0.45, (False, False, False)),    # each threshold is strict
    (0.70001, 0.5, 0.45, (True, False, False)),
    (0.7, 0.50001, 0.45, (False, True, False)),
    (0.7, 0.5, 0.45001, (False, False, True)),
    (2.0, 0.1, 0.9, (True, False, True)),
    (0.1, 3.0, 0.1, (False, True, False)),
])
def test_guided_updates_truth_table(d_loss_fake, g_loss, d_loss_real, expected):
    assert tuple(guided_updates(d_loss_fake, g_loss, d_loss_real)) == expected
    assert guided_updates(d_loss_fake, g_loss, d_loss_real)._fields == ("d_fake", "g", "d_real")


class ScriptedSession:
    """Stands in for a tf.Session: answers each update's run with the next scripted (d_real, d_fake, g) losses."""

    def __init__(self, initial, fetched):
        self.initial, self.fetched, self.calls = initial, list(fetched), []

    def run(self, fetches, feed_dict=None):
        if fetches == "last_known":
            return np.array(self.initial, np.float32)
        if fetches == "increment":
            self.calls.append("increment")
            return None
        update, losses = fetches
        assert losses == "losses"
        self.calls.append((update, feed_dict["z"]))
        assert feed_dict["x"] == "real"
        return None, np.array(self.fetched.pop(0), np.float32)


def test_the_controller_decides_each_update_on_the_losses_the_previous_one_fetched():
    ops = types.SimpleNamespace(last_known="last_known", losses="losses",
                                updates={"d_fake": "D on fake", "g": "G", "d_real": "D on real"})
    gan = types.SimpleNamespace(x="x", z="z", increment_step="increment", guided_ops=ops)
    sess = ScriptedSession(initial=(0.0, 0.0, 1.0), fetched=[
        (0.8, 0.75, 0.6),     # iteration 0, after G (d_real 0.8 calls for D on real)
        (0.3, 0.72, 0.55),    # iteration 0, after D on real
        (0.3, 0.5, 0.9),      # iteration 1, after D on fake (g 0.9 calls for G)
        (0.46, 0.5, 0.45),    # iteration 1, after G
        (0.45, 0.7, 0.5),     # iteration 1, after D on real: nothing above its threshold
    ])
    steps = GuidedSteps(gan)
    for _ in range(3):
        steps.iterate(sess, "real", StepNoise("z0", "z1", "z2"))
    assert sess.calls == [("G", "z1"), ("D on real", "z2"), "increment",
                          ("D on fake", "z0"), ("G", "z1"), ("D on real", "z2"), "increment",
                          "increment"]
    assert sess.fetched == []


# --- 2. The recipe: switches, names, run.json ----------------------------------------------------------------

def test_recipe_round_trips_through_run_json(tmp_path):
    recipe = Recipe(guided=True, label_smoothing=0.9, beta1=0.5, leaky_relu=True, generator="dcgan",
                    ema_decay=0.999, d_learning_rate=1e-3, g_learning_rate=4e-3)
    RunState(seed=1, pretrain_steps=0, iterations=10, logdir="", recipe=recipe.to_dict()).save(tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["recipe"]["generator"] == "dcgan"
    assert Recipe.from_dict(RunState.load(tmp_path).recipe) == recipe
    # The tutorial's run.json is as it always was: no recipe in it.
    RunState(seed=1, pretrain_steps=300, iterations=10, logdir="").save(tmp_path)
    assert "recipe" not in json.loads((tmp_path / "run.json").read_text())
    assert RunState.load(tmp_path).recipe is None


def test_named_recipes_and_switches():
    assert TUTORIAL == Recipe() and TUTORIAL.tutorial_graph
    assert RECIPES["tutorial"] == TUTORIAL
    assert {"tutorial", "guided", "smooth", "beta1", "leaky", "dcgan", "ema"} <= set(RECIPES)
    guided = RECIPES["guided"]
    assert (guided.guided, guided.label_smoothing, guided.d_learning_rate, guided.g_learning_rate) == \
        (True, 0.9, 1e-3, 4e-3)
    assert (guided.beta1, guided.generator, guided.ema_decay, guided.leaky_relu) == (0.9, "tutorial", 0, False)
    # Each single-change row changes one thing.
    for name, change in [("smooth", "label_smoothing"), ("beta1", "beta1"), ("leaky", "leaky_relu"),
                         ("dcgan", "generator"), ("ema", "ema_decay")]:
        changed = [f.name for f in dataclasses.fields(Recipe)
                   if getattr(RECIPES[name], f.name) != getattr(TUTORIAL, f.name)]
        assert changed == [change], name
    assert Recipe.from_switches() == TUTORIAL
    assert Recipe.from_switches(guided=True) == guided
    assert Recipe.from_switches(guided=True, g_learning_rate=1e-3).g_learning_rate == 1e-3
    assert Recipe.from_switches("dcgan", ema_decay=0.99) == Recipe(generator="dcgan", ema_decay=0.99)
    with pytest.raises(RecipeError, match="no recipe named 'nope'"):
        Recipe.from_switches("nope")
    with pytest.raises(RecipeError, match="beta1"):
        Recipe(beta1=1.0)
    with pytest.raises(RecipeError, match="generator"):
        Recipe(generator="big")


def test_the_command_line_flags_make_the_recipe():
    def recipe_of(*flags):
        return train_recipe(parser().parse_args(["train", *flags]))

    assert recipe_of() is None                      # the tutorial: no recipe at all
    assert recipe_of("--recipe", "tutorial") is None
    assert recipe_of("--guided") == RECIPES["guided"]
    assert recipe_of("--label-smoothing", "0.9", "--beta1", "0.5", "--leaky-relu", "--generator", "dcgan",
                     "--ema", "0.999") == RECIPES["hacks"]
    assert recipe_of("--one-d-optimizer", "--minibatch-stddev") == Recipe(one_d_optimizer=True, minibatch_stddev=True)
    assert recipe_of("--no-pretraining", "--discriminator", "dcgan") == Recipe(pretrain=False, discriminator="dcgan")

    assert recipe_of("--recipe", "dcgan", "--d-learning-rate", "2e-4", "--g-learning-rate", "2e-4") == \
        Recipe(generator="dcgan", d_learning_rate=2e-4, g_learning_rate=2e-4)


def test_pre_training_is_the_tutorials_unless_the_recipe_says():
    assert (TUTORIAL.pretrain_steps, RECIPES["guided"].pretrain_steps, RECIPES["no-pretraining"].pretrain_steps,
            RECIPES["dcgan-recipe+ema+spread"].pretrain_steps) == (300, 0, 0, 0)
    assert Recipe(pretrain=False).tutorial_graph   # the same graph: only the schedule differs
    assert not RECIPES["dcgan-d"].tutorial_graph


def test_checkpoint_recipe_reads_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "milestones").mkdir(parents=True)
    assert checkpoint_recipe(run / "model.ckpt-5") == TUTORIAL
    RunState(seed=0, pretrain_steps=0, iterations=5, logdir="", recipe=RECIPES["dcgan"].to_dict()).save(run)
    assert checkpoint_recipe(run / "model.ckpt-5") == RECIPES["dcgan"]
    assert checkpoint_recipe(run / "milestones" / "model.ckpt-5") == RECIPES["dcgan"]
    (run / "recipe.json").write_text(json.dumps(RECIPES["ema"].to_dict()))
    assert checkpoint_recipe(run / "model.ckpt-5") == RECIPES["ema"]


# --- 3. The graphs ------------------------------------------------------------------------------------------

def initial_values(gan):
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        return {v.op.name: value for v, value in zip(gan.model_variables, sess.run(gan.model_variables))}


def test_the_tutorial_recipe_builds_the_tutorials_graph():
    ours, theirs = build_recipe_graph(TUTORIAL, seed=4), build_graph(seed=4)
    assert type(ours) is GANGraph
    assert [(op.name, op.type) for op in ours.graph.get_operations()] == \
        [(op.name, op.type) for op in theirs.graph.get_operations()]
    ours_values, theirs_values = initial_values(ours), initial_values(theirs)
    assert sorted(ours_values) == sorted(theirs_values)
    for name, value in theirs_values.items():
        np.testing.assert_array_equal(ours_values[name], value, err_msg=name)


def test_the_dcgan_generator_makes_28x28_images_from_its_own_variables():
    with tf.Graph().as_default() as graph:
        v1.set_random_seed(0)
        z = v1.placeholder(tf.float32, [None, 100])
        images = dcgan_generator(z, 50, 100)
        assert images.shape.as_list() == [None, 28, 28, 1]
        trainable = v1.trainable_variables()
        names = [v.op.name for v in v1.global_variables()]
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            out = sess.run(images, {z: np.random.default_rng(0).normal(size=(50, 100)).astype(np.float32)})
    assert out.shape == (50, 28, 28, 1)
    assert 0 < out.min() and out.max() < 1 and out.std() > 0
    assert all("g_" in name and "d_" not in name for name in names), names
    d_vars, g_vars = split_variables(trainable)
    assert d_vars == [] and g_vars == trainable
    assert {"g_dc_w1", "g_dc_bn1/beta", "g_dc_w2", "g_dc_bn2/beta", "g_dc_w3", "g_dc_b3"} == {v.op.name for v in trainable}


def test_leaky_discriminator_has_the_tutorials_variables_and_slope_zero_is_relu(mnist):
    images = mnist.test.images[:4].reshape(4, 28, 28, 1)
    with tf.Graph().as_default() as graph:
        v1.set_random_seed(1)
        x = v1.placeholder(tf.float32, [None, 28, 28, 1])
        relu, leaky = discriminator(x), leaky_discriminator(x, reuse_variables=True)
        as_relu = leaky_discriminator(x, reuse_variables=True, slope=0.0)
        assert sorted(v.op.name for v in v1.global_variables()) == sorted(
            ["d_w1", "d_b1", "d_w2", "d_b2", "d_w3", "d_b3", "d_w4", "d_b4"])
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for v in v1.global_variables():   # biases below zero, so that the negative side matters
                if v.op.name.startswith("d_b"):
                    v.load(np.full(v.shape, -0.05, np.float32), sess)
            relu_out, leaky_out, as_relu_out = sess.run([relu, leaky, as_relu], {x: images})
    np.testing.assert_allclose(as_relu_out, relu_out, rtol=1e-6, atol=1e-7)
    assert np.abs(leaky_out - relu_out).max() > 1e-4


def test_stddev_discriminator_is_the_tutorials_when_the_spread_map_has_no_weight(mnist):
    """Built from the same d_w1 ... d_b4, with d_w3's rows of the extra map at zero, its logits are the tutorial's."""
    images = mnist.test.images[:8].reshape(8, 28, 28, 1)
    with tf.Graph().as_default() as graph:
        v1.set_random_seed(1)
        x = v1.placeholder(tf.float32, [None, 28, 28, 1])
        with v1.variable_scope("tutorial"):
            tutorial = discriminator(x)
        with v1.variable_scope("spread"):
            spread = stddev_discriminator(x)
        variables = {v.op.name: v for v in v1.global_variables()}
        assert sorted(variables) == sorted(f"{scope}/d_{kind}{layer}" for scope in ("tutorial", "spread")
                                           for kind in "wb" for layer in range(1, 5))
        assert variables["spread/d_w3"].shape == (7 * 7 * 65, 1024)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for name in ("d_w1", "d_b1", "d_w2", "d_b2", "d_b3", "d_w4", "d_b4"):
                variables[f"spread/{name}"].load(sess.run(variables[f"tutorial/{name}"]), sess)
            # Flattened 7x7x65 features: position-major, the spread map last at each position.
            w3 = sess.run(variables["tutorial/d_w3"]).reshape(49, 64, 1024)
            variables["spread/d_w3"].load(np.concatenate([w3, np.zeros((49, 1, 1024), np.float32)], 1)
                                          .reshape(-1, 1024), sess)
            tutorial_out, spread_out = sess.run([tutorial, spread], {x: images})
            variables["spread/d_w3"].load(np.concatenate([w3, np.ones((49, 1, 1024), np.float32)], 1)
                                          .reshape(-1, 1024), sess)
            weighted_out = sess.run(spread, {x: images})
    np.testing.assert_allclose(spread_out, tutorial_out, rtol=1e-5, atol=1e-6)
    assert np.abs(weighted_out - tutorial_out).max() > 1e-3   # once weighted, the map changes the logits


def test_minibatch_stddev_measures_the_spread_of_the_batch():
    maps = np.random.default_rng(0).normal(0, 2.0, (500, 3, 3, 4)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        varied, same = sess.run([minibatch_stddev(tf.constant(maps)),
                                 minibatch_stddev(tf.constant(np.repeat(maps[:1], 50, axis=0)))])
    assert varied.shape == (500, 3, 3, 5) and same.shape == (50, 3, 3, 5)
    np.testing.assert_array_equal(varied[..., :4], maps)              # the maps themselves pass unchanged
    assert np.ptp(varied[..., 4]) == 0 and abs(varied[0, 0, 0, 4] - 2.0) < 0.1   # one number: the stddev
    assert same[0, 0, 0, 4] < 1e-3                                    # a batch of one image repeated: no spread


def test_minibatch_stddev_is_the_mean_over_features_of_each_features_spread_over_the_batch():
    """A known answer from NumPy, on features whose spreads differ a lot (the mean, not the max or the sum)."""
    spreads = np.array([0.5, 1.0, 4.0, 10.0], np.float32)
    maps = (np.random.default_rng(1).normal(0, 1, (8, 2, 3, 4)) * spreads).astype(np.float32)
    expected = np.sqrt(maps.astype(np.float64).var(axis=0) + 1e-8).mean()
    with tf.Graph().as_default(), v1.Session() as sess:
        spread_map = sess.run(minibatch_stddev(tf.constant(maps)))[..., 4]
    np.testing.assert_allclose(spread_map, np.full((8, 2, 3), expected), rtol=1e-5)


def test_the_recipe_picks_the_discriminator():
    for recipe, layer, wanted_shape, leaky in [
            (Recipe(minibatch_stddev=True), "d_w3", (3185, 1024), False), (Recipe(leaky_relu=True), "d_w3", (3136, 1024), True),
            (Recipe(minibatch_stddev=True, leaky_relu=True), "d_w3", (3185, 1024), True),
            (Recipe(discriminator="dcgan"), "d_dc_w3", (7 * 7 * 128, 1), True),
            (Recipe(discriminator="dcgan", minibatch_stddev=True), "d_dc_w3", (7 * 7 * 129, 1), True)]:
        gan = build_recipe_graph(recipe, seed=0)
        with gan.graph.as_default():
            shapes = {v.op.name: tuple(v.shape) for v in v1.global_variables()}
            has_leaky = any(op.type == "LeakyRelu" for op in gan.graph.get_operations())
        assert shapes[layer] == wanted_shape, recipe
        assert has_leaky == leaky, recipe
        d_names = {v.op.name for v in gan.d_vars}
        assert layer in d_names and all(name.startswith("d_") for name in d_names), recipe   # D's optimizers train it


def test_dcgan_discriminator_gives_one_logit_per_image_from_its_own_variables(mnist):
    images = mnist.test.images[:6].reshape(6, 28, 28, 1)
    with tf.Graph().as_default() as graph:
        x = v1.placeholder(tf.float32, [None, 28, 28, 1])
        logits = dcgan_discriminator(x)
        again = dcgan_discriminator(x, reuse_variables=True)
        trainable = sorted(v.op.name for v in v1.trainable_variables())
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            first, second = sess.run([logits, again], {x: images})
    assert trainable == ["d_dc_b1", "d_dc_b3", "d_dc_bn2/beta", "d_dc_w1", "d_dc_w2", "d_dc_w3"]
    assert first.shape == (6, 1)
    np.testing.assert_array_equal(first, second)   # the second copy shares the first one's weights
    with pytest.raises(RecipeError, match="leaky ReLUs already"):
        Recipe(discriminator="dcgan", leaky_relu=True)
    with pytest.raises(RecipeError, match="discriminator must be one of"):
        Recipe(discriminator="big")


def _first_d_step(recipe, images, noise):
    """(the change of every D variable after one d_trainer_real + d_trainer_fake run, D's gradients of each loss)."""
    gan = build_recipe_graph(recipe, seed=3)
    with gan.graph.as_default():
        grads = [tf.gradients(loss, gan.d_vars) for loss in (gan.d_loss_real, gan.d_loss_fake)]
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        feed = {gan.x: images, gan.z: noise}
        before, (grad_real, grad_fake) = sess.run(gan.d_vars), sess.run(grads, feed)
        sess.run([gan.d_trainer_real, gan.d_trainer_fake], feed)
        moved = [after - start for after, start in zip(sess.run(gan.d_vars), before)]
    return moved, grad_real, grad_fake


def adam_first_step(gradient, rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """TF1 Adam's first update of a variable with this gradient: about -rate * sign(gradient), whatever its size."""
    rate_t = rate * np.sqrt(1 - beta2) / (1 - beta1)
    return -rate_t * (1 - beta1) * gradient / (np.sqrt(1 - beta2) * np.abs(gradient) + epsilon)


def test_one_d_optimizer_steps_on_the_sum_of_the_two_losses(mnist):
    """One optimizer: one Adam step on g_real + g_fake, at most the rate. The tutorial's two take a full-size step
    each, however small one of the two gradients is: up to twice the rate. (Which of the tutorial's two reads the
    weights first is up to TensorFlow, so only their sizes are checked.)"""
    images = mnist.test.images[:50].reshape(50, 28, 28, 1)
    noise = np.random.default_rng(0).normal(0, 1, (50, 100)).astype(np.float32)
    rate = 2e-4
    moved, grad_real, grad_fake = _first_d_step(Recipe(one_d_optimizer=True, d_learning_rate=rate), images, noise)
    for step, g_real, g_fake in zip(moved, grad_real, grad_fake):
        np.testing.assert_allclose(step, adam_first_step(g_real + g_fake, rate), rtol=0, atol=0.02 * rate)
    assert max(np.abs(step).max() for step in moved) < 1.01 * rate
    moved, _, _ = _first_d_step(Recipe(d_learning_rate=rate), images, noise)   # the tutorial's two optimizers
    assert max(np.abs(step).max() for step in moved) > 1.9 * rate


def test_one_d_optimizer_is_refused_with_the_guided_controller():
    with pytest.raises(RecipeError, match="one_d_optimizer"):
        Recipe(guided=True, one_d_optimizer=True)


def test_label_smoothing_is_the_real_label_of_d_loss_real():
    gan = build_recipe_graph(Recipe(label_smoothing=0.9), seed=0)
    logits = np.array([[2.0], [-1.0], [0.3], [5.0]], np.float32)
    with v1.Session(graph=gan.graph) as sess:
        got_real, got_fake, got_g = sess.run([gan.d_loss_real, gan.d_loss_fake, gan.g_loss],
                                             {gan.Dx_logits: logits, gan.Dg_logits: logits})
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(got_real, np.mean(-0.9 * np.log(p) - 0.1 * np.log(1 - p)), rtol=1e-5)
    np.testing.assert_allclose(got_fake, np.mean(-np.log(1 - p)), rtol=1e-5)   # generated images: label 0
    np.testing.assert_allclose(got_g, np.mean(-np.log(p)), rtol=1e-5)          # G's target: 1


def test_beta1_is_asked_of_all_three_optimizers():
    gan = build_recipe_graph(Recipe(beta1=0.5), seed=0)
    optimizers = (gan.d_real_optimizer, gan.d_fake_optimizer, gan.g_optimizer)
    with gan.graph.as_default():
        powers = [optimizer._get_beta_accumulators()[0] for optimizer in optimizers]
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        assert [float(value) for value in sess.run(powers)] == [0.5, 0.5, 0.5]
    assert [optimizer._beta1 for optimizer in optimizers] == [0.5, 0.5, 0.5]


def test_the_ema_checkpoint_holds_the_moving_average_of_the_generator(tmp_path):
    decay = 0.9
    gan = build_recipe_graph(Recipe(ema_decay=decay), seed=0)
    rng = np.random.default_rng(0)
    names = [v.op.name for v in gan.g_vars]
    checkpoints = RunCheckpoints(gan, str(tmp_path))
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        average = dict(zip(names, sess.run(gan.g_vars)))   # the average starts at the initial weights
        for step in range(4):
            sess.run(gan.g_trainer, {gan.z: rng.normal(size=(50, 100)).astype(np.float32)})
            raw = dict(zip(names, sess.run(gan.g_vars)))
            updates = step * 2   # the global step while the average is taken: TF's warm-up reads it
            rate = min(decay, (1 + updates) / (10 + updates))
            average = {name: rate * average[name] + (1 - rate) * raw[name] for name in names}
            for _ in range(2):
                sess.run(gan.increment_step)
        checkpoints.save(sess, RunState(seed=0, pretrain_steps=0, iterations=8, logdir=""))
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path), "model_checkpoint"))
    everything = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path)))
    moved = 0
    for name in names:
        saved = reader.get_tensor(name)
        np.testing.assert_allclose(saved, average[name], rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_array_equal(everything.get_tensor(name), raw[name])   # --resume keeps the raw weights
        moved += not np.allclose(saved, raw[name], rtol=0, atol=1e-9)
    assert moved >= len(names) - 3   # all but the biases before batch norm, whose gradient is ~0


# --- 4. Runs ------------------------------------------------------------------------------------------------

def update_counts(checkpoint_dir, gan):
    """(d_fake, g, d_real) updates of a run, from its Adam beta1 powers: beta1^(updates + 1)."""
    with gan.graph.as_default():
        names = [opt._get_beta_accumulators()[0].op.name
                 for opt in (gan.d_fake_optimizer, gan.g_optimizer, gan.d_real_optimizer)]
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(checkpoint_dir)))
    return [round(math.log(float(reader.get_tensor(name))) / math.log(0.9)) - 1 for name in names]


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("guided")
    history = train(iterations=6, pretrain_steps=0, seed=3, logdir=str(root / "tb"), checkpoint_dir=str(root / "ckpt"),
                    summary_every=2, checkpoint_every=1000, progress=False, recipe=RECIPES["guided"])
    return root, history


@pytest.mark.slow
def test_a_guided_run_logs_the_counts_of_each_update(guided_run):
    root, history = guided_run
    events = EventAccumulator(str(root / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    logged = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in ("d_fake_count", "g_count", "d_real_count")}
    assert all([step for step, _ in values] == [0, 2, 4] for values in logged.values())
    # Summaries after iterations 0, 2 and 4: they count iterations 0, 1-2 and 3-4; add iteration 5's from the run.
    counts = update_counts(root / "ckpt", build_recipe_graph(RECIPES["guided"], seed=3))
    first_g = logged["g_count"][0][1]
    assert first_g == 1 and logged["d_fake_count"][0][1] == 0   # iteration 0 starts from g_loss 1, d_loss_fake 0
    totals = [sum(value for _, value in logged[tag]) for tag in ("d_fake_count", "g_count", "d_real_count")]
    assert all(total <= count for total, count in zip(totals, counts))
    assert sum(counts) - sum(totals) <= 3       # iteration 5 ran at most three updates
    assert [row["iteration"] for row in history] == [0, 2, 4]
    assert [row["g_count"] for row in history] == [value for _, value in logged["g_count"]]
    state = json.loads((root / "ckpt" / "run.json").read_text())
    assert state["step"] == 6 and state["recipe"] == RECIPES["guided"].to_dict()


@pytest.mark.slow
def test_a_guided_runs_totals_match_every_update_when_every_iteration_is_logged(tmp_path):
    train(iterations=6, pretrain_steps=0, seed=5, logdir=str(tmp_path / "tb"), checkpoint_dir=str(tmp_path / "ckpt"),
          summary_every=1, checkpoint_every=3, progress=False, recipe=RECIPES["guided"])
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    totals = [sum(e.value for e in events.Scalars(tag)) for tag in ("d_fake_count", "g_count", "d_real_count")]
    assert totals == update_counts(tmp_path / "ckpt", build_recipe_graph(RECIPES["guided"], seed=5))
    assert sum(totals) >= 6   # at least one update every iteration
    # Killed after iteration 3 and resumed: the same run, bit for bit (last-known losses are saved with it).
    resumed = tmp_path / "resumed"
    train(iterations=3, pretrain_steps=0, seed=5, logdir=None, checkpoint_dir=str(resumed), checkpoint_every=3,
          summary_every=1, progress=False, recipe=RECIPES["guided"])
    train(iterations=6, pretrain_steps=0, seed=5, logdir=None, checkpoint_dir=str(resumed), checkpoint_every=3,
          summary_every=1, progress=False, resume=True)   # no recipe given: the run's own
    whole = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "ckpt")))
    again = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(resumed)))
    for name in whole.get_variable_to_shape_map():
        np.testing.assert_array_equal(again.get_tensor(name), whole.get_tensor(name), err_msg=name)


def cli(*args, cwd):
    return run_ezgan(*args, cwd=cwd)


@pytest.mark.slow
def test_a_dcgan_ema_run_exports_samples_and_evaluates(tmp_path):
    run, exported = tmp_path / "run", tmp_path / "exported"
    recipe = Recipe(generator="dcgan", ema_decay=0.99, beta1=0.5)
    train(iterations=4, pretrain_steps=1, seed=2, logdir=None, checkpoint_dir=str(run), checkpoint_every=1000,
          milestone_every=2, progress=False, recipe=recipe)
    times = json.loads((run / "milestones" / MILESTONE_TIMES).read_text())
    assert sorted(times) == ["3", "5"] and 0 < times["3"] <= times["5"]
    result = cli("export", "--checkpoint", run, "--out", exported, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((exported / "run.json").read_text())["recipe"] == recipe.to_dict()
    result = cli("sample", "--checkpoint", exported, "--n", "12", "--out", tmp_path / "digits.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    digits = np.load(tmp_path / "digits.npy")
    assert digits.shape == (12, 28, 28) and 0 <= digits.min() and digits.max() <= 1
    np.testing.assert_allclose(digits, sample(12, 0, exported), atol=1e-6)
    # What was exported is the moving average of the generator, not its raw weights.
    model = tf.train.load_checkpoint(resolve_checkpoint(exported))
    everything = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run)))
    np.testing.assert_array_equal(model.get_tensor("g_dc_w1"),
                                  everything.get_tensor("g_dc_w1/ExponentialMovingAverage"))
    assert not np.array_equal(model.get_tensor("g_dc_w1"), everything.get_tensor("g_dc_w1"))
    result = cli("evaluate", "--checkpoint", run / "milestones" / "model.ckpt-3", "--n", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model.ckpt-3" in result.stdout


@pytest.mark.slow
def test_an_unknown_recipe_is_a_user_error(tmp_path):
    result = cli("train", "--recipe", "nope", "--iterations", "1", "--checkpoint-dir", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr and "Traceback" not in result.stderr


# --- Digits on demand: the conditional pieces ---------------------------------------------------------------

def test_cycling_labels_ask_for_every_digit_in_turn():
    with tf.Graph().as_default(), v1.Session() as sess:
        labels = sess.run(cycling_labels(tf.zeros([12, 100])))
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_the_projection_discriminator_with_a_zero_embedding_is_the_dcgan_discriminator():
    images = np.random.default_rng(0).random((6, 28, 28, 1)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        x = tf.constant(images)
        labels = tf.constant([0, 1, 2, 3, 4, 5])
        projected = projection_discriminator(x, labels)
        plain = dcgan_discriminator(x, reuse_variables=True)   # the same d_dc_* variables, no embedding
        sess.run(v1.global_variables_initializer())
        embedding, = [var for var in v1.global_variables() if var.op.name == "d_dc_embed"]
        with_embedding, without = sess.run([projected, plain])
        embedding.load(np.zeros(embedding.shape, np.float32), sess)
        zeroed = sess.run(projected)
    np.testing.assert_allclose(zeroed, without, rtol=1e-5, atol=1e-6)
    assert np.abs(with_embedding - without).max() > 1e-4   # the digit changes the verdict


def test_a_conditional_run_trains_on_the_real_batches_digits():
    recipe = RECIPES["conditional"]
    gan = build_recipe_graph(recipe, seed=0)
    assert gan.labels is not None and "d_dc_embed" in {var.op.name for var in gan.d_vars}
    assert {var.op.name for var in gan.g_vars} >= {"g_dc_w1"} and gan.g_vars[0].shape[0] == 110   # z and one-hot
    rows = train(recipe, iterations=2, pretrain_steps=0, seed=0, logdir=None, checkpoint_dir=None, summary_every=1,
                 progress=False)
    assert [row["iteration"] for row in rows] == [0, 1] and all(np.isfinite(row["d_loss_real"]) for row in rows)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("conditional") / "run"
    train(RECIPES["conditional"], iterations=2, pretrain_steps=0, seed=0, logdir=None, checkpoint_dir=str(run),
          checkpoint_every=1, progress=False)
    return run


def test_sample_asks_a_conditional_model_for_a_digit_and_an_unconditional_one_refuses(conditional_run, tmp_path):
    from PIL import Image

    sevens = cli("sample", "--checkpoint", conditional_run, "--digit", "7", "--n", "12", "--seed", "123",
                 "--out", tmp_path / "sevens.npy", cwd=tmp_path)
    assert (sevens.returncode, sevens.stdout) == (0, f"wrote 12 digits to {tmp_path / 'sevens.npy'}\n"), sevens.stderr
    asked_for_seven = np.load(tmp_path / "sevens.npy")
    np.testing.assert_array_equal(asked_for_seven, sample(12, 123, conditional_run, digit=7))
    assert asked_for_seven.shape == (12, 28, 28)
    assert np.abs(asked_for_seven - sample(12, 123, conditional_run, digit=3)).max() > 1e-3   # the digit matters
    # The default is every digit in turn, and a PNG of them is a table with one column per digit.
    np.testing.assert_array_equal(sample(20, 1, conditional_run), sample(20, 1, conditional_run, digit="all"))
    table = cli("sample", "--checkpoint", conditional_run, "--n", "20", "--out", tmp_path / "all.png", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert Image.open(tmp_path / "all.png").width == (10 * 30 + 2) * 3
    refused = cli("sample", "--digit", "7", "--out", tmp_path / "x.png", cwd=tmp_path)   # pretrained/: the tutorial's
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--digit needs a conditional model" in refused.stderr and not (tmp_path / "x.png").exists()
    wrong = cli("sample", "--checkpoint", conditional_run, "--digit", "10", "--out", tmp_path / "y.png", cwd=tmp_path)
    assert wrong.returncode == 2 and "must be a digit 0-9 or all, got 10" in wrong.stderr


# --- A wider unconditional model --------------------------------------------------------------------------------

def test_the_wide_recipes_have_the_widths_asked_and_wide_r1_no_batch_norm_in_d():
    for name, normalised in [("wide", True), ("wide-r1", False)]:
        gan = build_recipe_graph(RECIPES[name], seed=0)
        with gan.graph.as_default():
            shapes = {v.op.name: tuple(v.shape) for v in v1.trainable_variables()}
        assert gan.batch_size == 128
        assert shapes["g_dc_w1"] == (100, 7 * 7 * 256) and shapes["g_dc_w2"] == (4, 4, 128, 256)   # 256 -> 128 maps
        assert shapes["d_dc_wc3"] == (4, 4, 128, 256)                  # D's third convolution, to 4x4x256
        assert shapes["d_dc_w3"] == (4 * 4 * 257, 1)                   # ... and the batch spread's map
        d_norms = {name for name in shapes if name.startswith("d_dc_bn")}
        assert d_norms == ({"d_dc_bn2/beta", "d_dc_bnc3/beta"} if normalised else set()), name
        assert ({"d_dc_b2", "d_dc_bc3"} <= set(shapes)) == (not normalised), name


def test_r1_penalty_is_half_its_weight_times_the_mean_squared_gradient_norm_on_real_images():
    """With logit_i = sum(w * x_i^2) / 2 the gradient for image i is w * x_i: the penalty is known in closed form."""
    rng = np.random.default_rng(0)
    w, images = rng.normal(size=(28, 28, 1)).astype(np.float32), rng.uniform(size=(5, 28, 28, 1)).astype(np.float32)
    with tf.Graph().as_default(), v1.Session() as sess:
        x = v1.placeholder(tf.float32, [None, 28, 28, 1])
        logits = tf.reduce_sum(w * tf.square(x), axis=[1, 2, 3])[:, None] / 2
        penalty = sess.run(r1_penalty(3.0, x, logits), {x: images})
    np.testing.assert_allclose(penalty, 3.0 / 2 * np.mean(np.sum((w * images) ** 2, axis=(1, 2, 3))), rtol=1e-5)
    with pytest.raises(RecipeError, match="R1 penalty"):
        Recipe(r1_penalty=1.0)   # the tutorial's two D optimizers: refused
    with pytest.raises(RecipeError, match="R1 penalty"):
        Recipe(one_d_optimizer=True, r1_penalty=-1.0)


def test_wide_r1s_one_d_optimizer_steps_on_its_two_losses_and_the_penalty(mnist):
    recipe = dataclasses.replace(RECIPES["wide-r1"], r1_penalty=1e3)   # at initialisation a weight of 1 barely shows
    images = mnist.test.images[:128].reshape(128, 28, 28, 1)
    noise = np.random.default_rng(0).normal(0, 1, (128, 100)).astype(np.float32)
    gan = build_recipe_graph(recipe, seed=3)
    with gan.graph.as_default():
        penalty = gan.graph.get_tensor_by_name("r1_penalty:0")
        gradients = tf.gradients(gan.d_loss_real + gan.d_loss_fake + penalty, gan.d_vars)
        without_penalty = tf.gradients(gan.d_loss_real + gan.d_loss_fake, gan.d_vars)
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        feed = {gan.x: images, gan.z: noise}
        before, wanted, unpenalised = sess.run(gan.d_vars), sess.run(gradients, feed), sess.run(without_penalty, feed)
        assert sess.run(penalty, feed) > 0
        sess.run(gan.d_trainer_real, feed)
        moved = [after - start for after, start in zip(sess.run(gan.d_vars), before)]
    # Adam's first step is about -rate * sign(gradient) wherever the gradient is well above Adam's epsilon (1e-8):
    # the weights moved against the gradient of the two losses plus the penalty, and some against the penalty alone.
    clear = [np.abs(gradient) > 1e-6 for gradient in wanted]
    for step, gradient, mask in zip(moved, wanted, clear):
        np.testing.assert_array_equal(np.sign(step[mask]), -np.sign(gradient[mask]))
    assert sum(np.sum(np.sign(step[mask]) == np.sign(gradient[mask]))
               for step, gradient, mask in zip(moved, unpenalised, clear)) > 0


@pytest.mark.slow
def test_a_wide_model_samples_in_its_own_batches(tmp_path):
    run = tmp_path / "run"
    train(RECIPES["wide"], iterations=1, pretrain_steps=0, seed=0, logdir=None, checkpoint_dir=str(run),
          checkpoint_every=1, progress=False)
    sampler = open_sampler(run)
    try:
        assert sampler.batch_size == 128   # batch norm normalises with the batch's statistics: the size it trained at
        digits = sampler.sample(130, seed=4)
    finally:
        sampler.close()
    assert digits.shape == (130, 28, 28)
    np.testing.assert_array_equal(digits[:128], sample(128, 4, run))
