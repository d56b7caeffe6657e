"""The tutorial's networks and graph: the original checkpoint's variables, losses, batch norm, rebuilds."""
import numpy as np
import pytest
import tensorflow as tf

from ezgan.graph import build_graph
from ezgan.model import batch_norm, discriminator, generator

v1 = tf.compat.v1

# The original checkpoint's layout: name -> shape.
MODEL_VARIABLES = {
    "d_w1": [5, 5, 1, 32], "d_b1": [32], "d_w2": [5, 5, 32, 64], "d_b2": [64],
    "d_w3": [3136, 1024], "d_b3": [1024], "d_w4": [1024, 1], "d_b4": [1],
    "g_w1": [100, 3136], "g_b1": [3136], "g_w2": [3, 3, 1, 50], "g_b2": [50],
    "g_w3": [3, 3, 50, 25], "g_b3": [25], "g_w4": [1, 1, 25, 1], "g_b4": [1],
    **{f"g_b{k}/{part}": [channels] for k, channels in ((1, 1), (2, 50), (3, 25))
       for part in ("beta", "moving_mean", "moving_variance")},
}


@pytest.fixture(scope="module")
def g():
    return build_graph(seed=0)


def is_optimizer_state(name):
    return "/Adam" in name or name.startswith(("beta1_power", "beta2_power")) or name == "global_step"


def test_model_variables_are_the_original_checkpoints(g):
    found = {v.op.name: v.shape.as_list() for v in g.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
             if not is_optimizer_state(v.op.name)}
    assert found == MODEL_VARIABLES
    assert {v.op.name: v.shape.as_list() for v in g.model_variables} == MODEL_VARIABLES


def test_d_vars_and_g_vars_split_the_trainable_variables(g):
    d_names = {v.op.name for v in g.d_vars}
    g_names = {v.op.name for v in g.g_vars}
    trainable = {v.op.name for v in g.graph.get_collection(v1.GraphKeys.TRAINABLE_VARIABLES)}
    assert not d_names & g_names
    assert d_names | g_names == trainable
    assert d_names == {name for name in MODEL_VARIABLES if name.startswith("d_")}
    assert "g_b1/beta" in g_names and "g_b1/moving_mean" not in trainable


def test_building_again_never_meets_the_variables_of_the_last_build():
    """Re-running a notebook's graph cell: each build gets a fresh graph, whatever graph is the default.

    Built into the default graph, a second build would fail with "Variable d_w1 already exists"
    (or, with reuse, silently share the first build's weights).
    """
    with tf.Graph().as_default():
        z = v1.placeholder(tf.float32, [None, 100])
        generator(z, 50, 100)
        discriminator(v1.placeholder(tf.float32, [None, 28, 28, 1]))   # the tutorial's names, taken in this graph
        first, second = build_graph(), build_graph()
    for built in (first, second):
        assert sorted(v.op.name for v in built.model_variables) == sorted(MODEL_VARIABLES)
    assert not set(first.model_variables) & set(second.model_variables)


def test_shapes_through_the_networks(g):
    assert g.Gz.shape.as_list() == [None, 28, 28, 1]
    assert g.Dx_logits.shape.as_list() == [None, 1] and g.Dg_logits.shape.as_list() == [None, 1]


def test_z_of_the_wrong_width_is_refused():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=r"z shaped \(batch, 100\)"):
            generator(v1.placeholder(tf.float32, [None, 99]), 50, 100)
        with pytest.raises(ValueError, match="28, 28, 1"):
            discriminator(v1.placeholder(tf.float32, [None, 28, 28]))


def sigmoid_xent(logits, label):
    """Numerically stable sigmoid cross-entropy, written out in numpy."""
    return np.maximum(logits, 0) - logits * label + np.log1p(np.exp(-np.abs(logits)))


def test_losses_equal_a_numpy_computation(g):
    logits_real = np.array([[3.0], [-1.5], [0.0], [40.0]], np.float32)
    logits_fake = np.array([[-2.0], [0.5], [-40.0], [7.0]], np.float32)
    with v1.Session(graph=g.graph) as sess:
        d_real, d_fake, g_loss = sess.run([g.d_loss_real, g.d_loss_fake, g.g_loss],
                                          {g.Dx_logits: logits_real, g.Dg_logits: logits_fake})
    np.testing.assert_allclose(d_real, sigmoid_xent(logits_real, 1).mean(), rtol=1e-6)
    np.testing.assert_allclose(d_fake, sigmoid_xent(logits_fake, 0).mean(), rtol=1e-6)
    np.testing.assert_allclose(g_loss, sigmoid_xent(logits_fake, 1).mean(), rtol=1e-6)


def test_batch_norm_uses_batch_statistics_and_leaves_moving_averages_alone():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, (8, 5, 5, 4)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        x = v1.placeholder(tf.float32, values.shape)
        y = batch_norm(x, "bn")
        beta = [v for v in v1.global_variables() if v.op.name == "bn/beta"][0]
        moving = [v for v in v1.global_variables() if "moving" in v.op.name]
        assert len(graph.get_collection(v1.GraphKeys.UPDATE_OPS)) == 2
        assert not any(v in v1.trainable_variables() for v in moving)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            beta.load(np.arange(4, dtype=np.float32), sess)
            out = sess.run(y, {x: values})
            mean, var = values.mean(axis=(0, 1, 2)), values.var(axis=(0, 1, 2))
            np.testing.assert_allclose(out, (values - mean) / np.sqrt(var + 1e-5) + np.arange(4), atol=1e-5)
            np.testing.assert_array_equal(sess.run(moving[0]), np.zeros(4))
            np.testing.assert_array_equal(sess.run(moving[1]), np.ones(4))


def test_generated_images_are_in_the_unit_interval(g):
    with v1.Session(graph=g.graph) as sess:
        sess.run(g.init)
        images = sess.run(g.Gz, {g.z: np.random.default_rng(0).normal(size=(7, 100))})
    assert images.shape == (7, 28, 28, 1) and 0 < images.min() and images.max() < 1


def test_the_graph_holds_one_generator_and_two_uses_of_the_discriminator(g):
    """What TensorBoard's Graphs tab shows: the tutorial's graph and nothing more (no fast step)."""
    ops = g.graph.get_operations()
    resizes = [op for op in ops if op.type == "ResizeBilinear"]
    first_layers = [op for op in ops if op.type == "Conv2D" and op.inputs[1].op.inputs[0].op.name == "d_w1"]
    assert len(resizes) == 2, "one generator: two resizes"
    assert len(first_layers) == 2, "the discriminator applied to real and to generated images"
    assert not [op for op in ops if "fast_step" in op.name or op.name == "z_g"]
