"""ezgan.runs.fast against the tutorial: each faster piece computes the same function, to float32 rounding."""
import importlib

import numpy as np
import pytest
import tensorflow as tf

from ezgan.runs import fast
from ezgan.runs.fast import (add_fast_step, batch_norm_relu_factored, conv2d_single_channel_input_gradient,
                             fast_generator, upsample_conv3x3_stride2)
from ezgan.graph import build_graph
from ezgan.model import batch_norm
from ezgan.tfsetup import session_config
from ezgan.train import literal_iteration, pretrain_step, step_noise

v1 = tf.compat.v1
# Every trained variable of the two networks, written out (not read from the graph under test).
TRAINED = {"d_w1", "d_b1", "d_w2", "d_b2", "d_w3", "d_b3", "d_w4", "d_b4", "g_w1", "g_b1", "g_w2", "g_b2",
           "g_w3", "g_b3", "g_w4", "g_b4", "g_b1/beta", "g_b2/beta", "g_b3/beta"}


@pytest.fixture(scope="module")
def g():
    return build_graph(seed=0)


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


def test_z_of_the_wrong_width_is_refused(g):
    with g.graph.as_default(), pytest.raises(ValueError, match=r"z shaped \(batch, 100\)"):
        fast_generator(v1.placeholder(tf.float32, [None, 99]))


def test_the_fast_step_adds_ops_but_no_variables():
    gan = build_graph(seed=0)
    before = {v.op.name for v in gan.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)}
    ops_before = len(gan.graph.get_operations())
    step = add_fast_step(gan)
    assert {v.op.name for v in gan.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)} == before
    assert len(gan.graph.get_operations()) > ops_before
    assert step.train_step.graph is gan.graph and step.z_g.op.name == "fast_step/z_g"


def test_the_module_can_be_imported_again(monkeypatch):
    """``importlib.reload`` (or ``%autoreload`` in a notebook) keeps the gradient overrides working, with the new code.

    TF refuses to register a gradient name twice; the registered function looks the gradient up in
    the module as it is now, so the reloaded module's function is the one called.
    """
    reloaded = importlib.reload(fast)
    calls = []
    reloaded_gradient = reloaded._matmul_gradient_transposed
    monkeypatch.setattr(reloaded, "_matmul_gradient_transposed",
                        lambda op, grad: calls.append(op.name) or reloaded_gradient(op, grad))
    gan = build_graph(seed=0)
    step = reloaded.add_fast_step(gan)
    assert calls and all(name.startswith("fast_step/") for name in calls)
    rng = np.random.default_rng(0)
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        before = sess.run(gan.g_vars[0])
        step.iteration(sess, rng.random((50, 28, 28, 1)), rng.normal(size=(50, 100)), rng.normal(size=(50, 100)))
        assert not np.array_equal(sess.run(gan.g_vars[0]), before)


def inputs(mnist, steps, seed=5):
    mnist.train.seek(0)
    return [(mnist.train.next_batch(50)[0].reshape(50, 28, 28, 1), *step_noise(seed, s, 50, 100)[:2])
            for s in range(steps)]


def generator_first_iteration(sess, g, real, z_d, z_g):
    """A different iteration (G steps before D), to show the comparison below can tell."""
    sess.run(g.g_trainer, {g.z: z_g})
    sess.run([g.d_trainer_real, g.d_trainer_fake], {g.x: real, g.z: z_d})
    sess.run(g.increment_step)


def iterate_from(sess, everything, initial, batches, pretrain, iterate, reorder=None):
    """Load ``initial`` into ``everything``, run 3 pre-training steps and the rest as iterations."""
    for var, value in zip(everything, initial):
        var.load(value, sess)
    for step, batch in enumerate(batches):
        real, z_d, z_g = batch if reorder is None else (part[reorder] for part in batch)
        if step < 3:
            pretrain(sess, real, z_d)
        else:
            iterate(sess, real, z_d, z_g)
    return dict(zip([v.op.name for v in everything], sess.run(everything)))


def far_from_the_literal_loop(mnist, graph_seed, input_seed):
    """Which variables train_step and a wrong iteration leave far from the literal loop.

    "Far" is beyond 4x the tutorial's own float32 noise: the distance of the literal loop run on
    the same batches in other orders (a batch-mean loss and batch statistics do not depend on the
    order, only the rounding does), plus 1e-6 of the variable's norm. Returns (far for train_step,
    far for the G step first, variables the literal loop left unmoved).
    """
    g = build_graph(seed=graph_seed)
    fast_step = add_fast_step(g)
    batches = inputs(mnist, 8, seed=input_seed)
    reorderings = {f"literal, batch order {k}": np.random.default_rng(k).permutation(50) for k in range(3)}
    everything = g.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        sess.run(g.init)
        initial = sess.run(everything)
        def literal_pretrain(sess, real, z_d):
            return pretrain_step(sess, g, real, z_d)

        def literal(sess, real, z_d, z_g):
            literal_iteration(sess, g, real, z_d, z_g)

        def generator_first(sess, real, z_d, z_g):
            generator_first_iteration(sess, g, real, z_d, z_g)

        results = {name: iterate_from(sess, everything, initial, batches, literal_pretrain, literal, reorder)
                   for name, reorder in {"literal": None, **reorderings}.items()}
        results["fast"] = iterate_from(sess, everything, initial, batches, fast_step.pretrain_step, fast_step.iteration)
        results["G step first"] = iterate_from(sess, everything, initial, batches, literal_pretrain, generator_first)
    literal = results["literal"]
    assert results["fast"]["global_step"] == literal["global_step"] == 8

    def distance(name, var):
        return np.linalg.norm(results[name][var] - literal[var])

    def far(name):
        return [var for var in literal
                if distance(name, var) > 4 * max(distance(other, var) for other in reorderings)
                + 1e-6 * np.linalg.norm(literal[var])]

    unmoved = [v.op.name for v, value in zip(everything, initial)
               if v.op.name in TRAINED and np.array_equal(literal[v.op.name], value)]
    return far("fast"), far("G step first"), unmoved


@pytest.mark.slow
def test_fast_path_computes_the_tutorials_iteration(mnist):
    """Same initial weights, real batches and noise: the literal loop and the fast step agree.

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
    assert len(far_on_seed) <= 1, f"the fast step is far from the literal loop on several seeds: {far_on_seed}"


@pytest.mark.gpu
def test_training_step_runs_on_the_gpu(g):
    """Where TF sees a GPU, the graph's heavy ops are placed on it."""
    step = add_fast_step(g)
    with v1.Session(graph=g.graph) as sess:
        sess.run(g.init)
        devices = {d.name for d in sess.list_devices()}
        assert any("GPU" in name for name in devices)
        options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
        metadata = v1.RunMetadata()
        rng = np.random.default_rng(0)
        step.iteration(sess, rng.random((50, 28, 28, 1)), rng.normal(size=(50, 100)), rng.normal(size=(50, 100)),
                       options=options, run_metadata=metadata)
        assert any("GPU" in dev.device for dev in metadata.step_stats.dev_stats)
