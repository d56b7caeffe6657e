"""The networks and the graph: the original checkpoint's variables, losses, batch norm, rebuilds."""
import numpy as np
import pytest
import tensorflow as tf

from ezgan.graph import build_graph, conv2d_single_channel_input_gradient
from ezgan.model import (batch_norm, batch_norm_relu_factored, discriminator, fast_generator, generator,
                         upsample_conv3x3_stride2)

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


def test_building_twice_in_one_process_works():
    first, second = build_graph(), build_graph()
    assert first.graph is not second.graph
    assert len(first.graph.get_collection("variables")) == len(second.graph.get_collection("variables"))


def test_shapes_through_the_networks(g):
    assert g.Gz.shape.as_list() == [None, 28, 28, 1]
    assert g.Dx.shape.as_list() == [None, 1] and g.Dg.shape.as_list() == [None, 1]


def test_z_of_the_wrong_width_is_refused():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=r"z shaped \(batch, 100\)"):
            generator(v1.placeholder(tf.float32, [None, 99]), 50, 100)
        with pytest.raises(ValueError, match="28, 28, 1"):
            discriminator(v1.placeholder(tf.float32, [None, 28, 28]))
        generator(v1.placeholder(tf.float32, [None, 100]), 50, 100)
        with pytest.raises(ValueError, match=r"z shaped \(batch, 100\)"):
            fast_generator(v1.placeholder(tf.float32, [None, 99]))


def sigmoid_xent(logits, label):
    """Numerically stable sigmoid cross-entropy, written out in numpy."""
    return np.maximum(logits, 0) - logits * label + np.log1p(np.exp(-np.abs(logits)))


def test_losses_equal_a_numpy_computation(g):
    logits_real = np.array([[3.0], [-1.5], [0.0], [40.0]], np.float32)
    logits_fake = np.array([[-2.0], [0.5], [-40.0], [7.0]], np.float32)
    with v1.Session(graph=g.graph) as sess:
        d_real, d_fake, g_loss = sess.run([g.d_loss_real, g.d_loss_fake, g.g_loss],
                                          {g.Dx: logits_real, g.Dg: logits_fake})
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


def test_folded_resize_and_conv_is_the_tutorials_layer_to_float_rounding():
    """upsample_conv3x3_stride2 and the tutorial's resize + stride-2 conv, values and gradients.

    Both are compared with the tutorial's layer evaluated in float64 (from the same resized
    image): each must be within float32 rounding of it, and so of each other.
    """
    rng = np.random.default_rng(0)
    x, kernel, upstream = (rng.normal(size=shape).astype(np.float32)
                           for shape in ((3, 28, 28, 6), (3, 3, 6, 5), (3, 28, 28, 5)))

    def tutorial(x, kernel, dtype=tf.float32):
        resized = tf.cast(v1.image.resize_images(x, [56, 56]), dtype)
        return tf.nn.conv2d(resized, tf.cast(kernel, dtype), strides=[1, 2, 2, 1], padding="SAME")

    with tf.Graph().as_default():
        x, kernel = tf.constant(x), tf.constant(kernel)
        fetches = {}
        for name, layer in {"tutorial": tutorial, "folded": upsample_conv3x3_stride2,
                            "float64": lambda x, k: tutorial(x, k, tf.float64)}.items():
            out = layer(x, kernel)
            loss = tf.reduce_sum(out * tf.cast(upstream, out.dtype))
            fetches[name] = [out, *tf.gradients(loss, [x, kernel])]
        results = evaluate(fetches)
    assert_within_float32_rounding(results, ("output", "d/dx", "d/dkernel"))


def assert_within_float32_rounding(results, parts):
    """Every float32 way of computing ``parts`` is within float32 rounding of the float64 one."""
    exact_values = results.pop("float64")
    for name, values in results.items():
        for part, exact, value in zip(parts, exact_values, values):
            assert value.shape == exact.shape, (name, part)
            assert np.linalg.norm(value - exact) / np.linalg.norm(exact) < 2e-6, (name, part)


def evaluate(fetches):
    """Run ``fetches`` (name -> list of tensors) in a session; every value as float64."""
    with v1.Session() as sess:
        return {name: [value.astype(np.float64) for value in values] for name, values in sess.run(fetches).items()}


@pytest.mark.parametrize("input_size, kernel_size, stride", [
    ((28, 28), 5, 1), ((56, 56), 3, 2), ((9, 12), 3, 1), ((14, 10), 5, 2), ((8, 8), 4, 2)])
def test_single_channel_input_gradient_is_tfs_to_float_rounding(input_size, kernel_size, stride):
    """conv2d_single_channel_input_gradient against TF's Conv2DBackpropInput, both float32 and float64."""
    rng = np.random.default_rng(0)
    out_size = [-(-size // stride) for size in input_size]
    grad, kernel = (rng.normal(size=shape) for shape in ((3, *out_size, 7), (kernel_size, kernel_size, 1, 7)))

    def tfs(dtype):
        return [tf.raw_ops.Conv2DBackpropInput(input_sizes=[3, *input_size, 1], filter=tf.constant(kernel, dtype),
                                               out_backprop=tf.constant(grad, dtype), strides=[1, stride, stride, 1],
                                               padding="SAME")]

    with tf.Graph().as_default():
        results = evaluate({"float64": tfs(tf.float64), "TF's": tfs(tf.float32), "ours": [
            conv2d_single_channel_input_gradient(tf.constant(grad, tf.float32), tf.constant(kernel, tf.float32),
                                                 input_size, stride)]})
    assert_within_float32_rounding(results, ("d/dx",))


def test_factored_batch_norm_relu_is_relu_of_batch_norm_to_float_rounding():
    """activations * scale of batch_norm_relu_factored against the tutorial's relu(batch_norm).

    Values and gradients (to the input and to beta, through both outputs), each compared with
    TF differentiating the tutorial's ops in float64.
    """
    rng = np.random.default_rng(0)
    x, upstream, offset = rng.normal(0.7, 2.0, (6, 5, 5, 4)), rng.normal(size=(6, 5, 5, 4)), rng.normal(size=4)

    def float64_autodiff(inputs):
        beta = tf.constant(offset)
        mean, variance = tf.nn.moments(inputs, axes=[0, 1, 2])
        return tf.nn.relu(tf.nn.batch_normalization(inputs, mean, variance, beta, None, 1e-5)), beta

    def with_beta_variable(layer, scope):
        def build(inputs):
            out = layer(inputs, scope)
            return out, next(v for v in v1.global_variables() if v.op.name == f"{scope}/beta")
        return build

    def factored(inputs, scope):
        batch_norm(inputs, scope)  # creates the variables it uses
        activations, scale = batch_norm_relu_factored(inputs, scope)
        return activations * scale

    with tf.Graph().as_default():
        fetches = {}
        for name, layer, dtype in (
                ("float64", float64_autodiff, tf.float64),
                ("tutorial", with_beta_variable(lambda x, scope: tf.nn.relu(batch_norm(x, scope)), "bn"), tf.float32),
                ("factored", with_beta_variable(factored, "bn_factored"), tf.float32)):
            inputs = tf.constant(x, dtype)
            out, beta = layer(inputs)
            fetches[name] = [out, *tf.gradients(tf.reduce_sum(out * tf.constant(upstream, dtype)), [inputs, beta])]
        init = v1.global_variables_initializer()
        with v1.Session() as sess:
            sess.run(init)
            for beta in v1.trainable_variables():
                beta.load(offset.astype(np.float32), sess)
            results = {name: [value.astype(np.float64) for value in values] for name, values in sess.run(fetches).items()}
    assert_within_float32_rounding(results, ("output", "d/dx", "d/dbeta"))


def test_fast_generator_is_the_generator_to_float_rounding(g):
    """Same images, same gradients to every generator variable (weights 20x their initial size)."""
    rng = np.random.default_rng(1)
    with g.graph.as_default():
        fast = fast_generator(g.z)
        upstream = tf.constant(rng.normal(size=(50, 28, 28, 1)), tf.float32)
        # g_b2 and g_b3 are cancelled by the batch norm after them: their gradients are rounding noise.
        weights = [var for var in g.g_vars if var.op.name not in ("g_b2", "g_b3")]
        gradients = {name: tf.gradients(tf.reduce_sum(images * upstream), weights)
                     for name, images in (("tutorial", g.Gz), ("fast", fast))}
    with v1.Session(graph=g.graph) as sess:
        sess.run(g.init)
        # Weights 20x their initial size, so that the images are far from a flat 0.5.
        for var in g.g_vars:
            var.load(sess.run(var) * 20, sess)
        feed = {g.z: rng.normal(size=(50, 100))}
        tutorial_images, fast_images, values = sess.run([g.Gz, fast, gradients], feed)
    assert tutorial_images.std() > 0.1
    np.testing.assert_allclose(fast_images, tutorial_images, atol=1e-5)
    for var, tutorial_gradient, fast_gradient in zip(weights, values["tutorial"], values["fast"]):
        relative = np.linalg.norm(fast_gradient - tutorial_gradient) / np.linalg.norm(tutorial_gradient)
        assert relative < 3e-5, var.op.name


@pytest.mark.gpu
def test_training_step_runs_on_the_gpu(g):
    """Where TF sees a GPU, the graph's heavy ops are placed on it."""
    config = v1.ConfigProto(log_device_placement=False)
    with v1.Session(graph=g.graph, config=config) as sess:
        sess.run(g.init)
        devices = {d.name for d in sess.list_devices()}
        assert any("GPU" in name for name in devices)
        options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
        metadata = v1.RunMetadata()
        rng = np.random.default_rng(0)
        sess.run(g.train_step, {g.x: rng.random((50, 28, 28, 1)), g.z: rng.normal(size=(50, 100)),
                                g.z_g: rng.normal(size=(50, 100))}, options=options, run_metadata=metadata)
        assert any("GPU" in dev.device for dev in metadata.step_stats.dev_stats)
