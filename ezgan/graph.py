"""Tutorial steps 4 and 5: the losses, the optimizers and the TensorBoard summaries.

``build_graph()`` builds everything into a fresh ``tf.Graph``, so building it again (re-running a
notebook cell) never meets variables left over from the last time. The graph holds both ways to
train that this project knows:

* the tutorial's own ops: ``d_trainer_real``, ``d_trainer_fake`` and ``g_trainer``, run from
  Python in two ``sess.run`` calls per iteration (see ``ezgan.train.literal_iteration``);
* ``train_step``: the same iteration as a single op, its order enforced by control dependencies,
  computed with less work (see ``_fast_train_ops`` and ``ezgan.train.fast_iteration``). Both
  share the same variables and optimizer state.
"""
import types

import tensorflow as tf

from ezgan.hparams import BATCH_SIZE, D_LEARNING_RATE, G_LEARNING_RATE, Z_DIM
from ezgan.model import discriminator, fast_generator, generator

v1 = tf.compat.v1


def gan_losses(Dx, Dg):
    """The three losses, each a sigmoid cross-entropy on logits averaged over the batch.

    The discriminator wants real images (logits ``Dx``) called 1 and generated ones (``Dg``) called
    0; the generator wants its images called 1. Returns (d_loss_real, d_loss_fake, g_loss).
    """
    return _mean_xent(Dx, tf.ones_like), _mean_xent(Dg, tf.zeros_like), _mean_xent(Dg, tf.ones_like)


def _mean_xent(logits, labels_like):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits, labels=labels_like(logits)))


def split_variables(variables):
    """The tutorial's split of the trainable variables by name: (d_vars, g_vars)."""
    d_vars = [var for var in variables if "d_" in var.name]
    g_vars = [var for var in variables if "g_" in var.name]
    return d_vars, g_vars


def add_summaries(g_loss, d_loss_real, d_loss_fake, images):
    """The tutorial's TensorBoard summaries, merged into one op."""
    return v1.summary.merge([
        v1.summary.scalar("Generator_loss", g_loss),
        v1.summary.scalar("Discriminator_loss_real", d_loss_real),
        v1.summary.scalar("Discriminator_loss_fake", d_loss_fake),
        v1.summary.image("Generated_images", images, max_outputs=5),
    ])


def matmul_input_gradient(grad, weights):
    """The gradient of ``matmul(inputs, weights)`` with respect to ``inputs``, computed transposed.

    TF's own gradient computes ``matmul(grad, weights, transpose_b=True)``, which on this CPU is
    slow for the discriminator's 3136x1024 layer; ``transpose(matmul(weights, grad,
    transpose_b=True))`` is the same product, faster (``make bench`` times both).
    """
    return tf.transpose(tf.matmul(weights, grad, transpose_b=True))


@tf.RegisterGradient("MatMulGradientTransposed")
def _matmul_gradient_transposed(op, grad):
    """MatMul's gradient, with ``matmul_input_gradient`` for the input's part."""
    if op.get_attr("transpose_a") or op.get_attr("transpose_b"):
        raise NotImplementedError("only plain matmul(a, b) is differentiated this way")
    inputs, weights = op.inputs
    return matmul_input_gradient(grad, weights), tf.matmul(inputs, grad, transpose_a=True)


def _sum_of_shifted_taps(taps, axis, kernel_size, stride, in_size):
    """Along ``axis``, scatter-add each tap's map (``taps[i]``) back onto the input's positions.

    Output position a of a SAME convolution reads input s*a + i - pad_before through tap i; so
    input position p = s*m + r (phase r) gathers tap i's value at m - (i - r - pad_before)/s for
    the taps that reach phase r. Each phase is a sum of shifted slices, and the phases are then
    interleaved. Drops the tap axis 0; ``axis`` counts with it.
    """
    out_size = taps.shape[axis]
    pad_before = max((out_size - 1) * stride + kernel_size - in_size, 0) // 2
    length = in_size // stride
    phases = []
    for phase in range(stride):
        shifts = {tap: (tap - phase - pad_before) // stride for tap in range(kernel_size)
                  if (tap - phase - pad_before) % stride == 0}
        front, back = max(0, max(shifts.values())), max(0, length - out_size - min(shifts.values()))
        paddings = [[0, 0]] * taps.shape.rank
        paddings[axis] = [front, back]
        padded = tf.pad(taps, paddings)
        slices = []
        for tap, shift in shifts.items():
            begin, size = [0] * taps.shape.rank, [-1] * taps.shape.rank
            begin[0], size[0], begin[axis], size[axis] = tap, 1, front - shift, length
            slices.append(tf.slice(padded, begin, size))
        phases.append(tf.squeeze(tf.add_n(slices), 0))
    if stride == 1:
        return phases[0]
    shape = tf.unstack(tf.shape(phases[0]))
    axis -= 1
    return tf.reshape(tf.stack(phases, axis=axis + 1), shape[:axis] + [shape[axis] * stride] + shape[axis + 1:])


def conv2d_single_channel_input_gradient(grad, kernel, input_size, stride):
    """The gradient of ``conv2d(x, kernel, stride, "SAME")`` with respect to a one-channel x.

    TF's ``Conv2DBackpropInput`` is slow on this CPU when x has a single channel (the
    discriminator's input image, the generator's first 56x56 map). Here one matmul gives every
    kernel tap's contribution at every output position, and shifted sums add them back onto the
    input's positions, first along the width, then along the height. ``input_size`` is (height,
    width) of x. The same sums in another order: only float rounding differs.
    """
    kernel_height, kernel_width, _, channels = kernel.shape
    batch, out_height, out_width = tf.shape(grad)[0], grad.shape[1], grad.shape[2]
    taps = tf.matmul(tf.reshape(kernel, [kernel_height * kernel_width, channels]),
                     tf.reshape(grad, [-1, channels]), transpose_b=True)
    taps = tf.reshape(taps, [kernel_height, kernel_width, batch, out_height, out_width])
    rows = _sum_of_shifted_taps(tf.transpose(taps, [1, 0, 2, 3, 4]), 4, kernel_width, stride, input_size[1])
    return tf.expand_dims(_sum_of_shifted_taps(rows, 2, kernel_height, stride, input_size[0]), -1)


@tf.RegisterGradient("Conv2DSingleChannelInputGradient")
def _conv2d_gradient_single_channel(op, grad):
    """Conv2D's gradient, with ``conv2d_single_channel_input_gradient`` where it applies."""
    inputs, kernel = op.inputs
    attrs = {name: op.get_attr(name) for name in ("strides", "padding", "use_cudnn_on_gpu", "explicit_paddings",
                                                  "data_format", "dilations")}
    strides = attrs["strides"]
    if (inputs.shape[-1] == 1 and attrs["padding"] == b"SAME" and attrs["data_format"] == b"NHWC"
            and attrs["dilations"] == [1, 1, 1, 1] and strides[1] == strides[2]
            and inputs.shape[1] % strides[1] == 0 and inputs.shape[2] % strides[2] == 0):
        input_gradient = conv2d_single_channel_input_gradient(grad, kernel, inputs.shape[1:3], strides[1])
    else:
        input_gradient = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(inputs), filter=kernel,
                                                        out_backprop=grad, **attrs)
    return input_gradient, tf.raw_ops.Conv2DBackpropFilter(input=inputs, filter_sizes=tf.shape(kernel),
                                                           out_backprop=grad, **attrs)


def _after(grads_and_vars, dependencies):
    """``grads_and_vars`` with each gradient made to wait for ``dependencies[variable]``."""
    waiting = []
    for grad, var in grads_and_vars:
        with tf.control_dependencies([dependencies[var]]):
            waiting.append((tf.identity(grad), var))
    return waiting


def _variable_updates(apply_op, variables):
    """The op inside an optimizer's ``apply_gradients`` result that updates each variable."""
    updates = {op.inputs[0].ref(): op for op in apply_op.control_inputs if op.type.startswith("ResourceApply")}
    return {variable: updates[variable.handle.ref()] for variable in variables}


def _fast_train_ops(g, d_optimizers, g_optimizer):
    """``train_step`` and ``d_step``: one iteration (or one pre-training step) as one op.

    The D updates on real and on fake are both computed from the weights as they were when the
    step began, as in the tutorial's single ``sess.run([d_trainer_real, d_trainer_fake])``. Each
    weight is updated as soon as its own two gradients exist (so Adam on the big layer overlaps
    with the rest of the backward pass); gradients still to come see the old values because TF's
    training ops copy a variable before updating it while a read of it is in use
    (``PrepareToUpdateVariable``). The G update then sees the updated
    discriminator (its forward pass is built under a control dependency on the D updates) and its
    own noise ``z_g``. These ops build their own copies of the networks (same variables), with
    changes that compute the same function faster: the generator's resizes are folded into its
    convolutions and its batch norm takes fewer passes (``fast_generator``),
    matmul gradients are computed transposed, and convolutions of one-channel inputs get their
    input gradient from a matmul (``conv2d_single_channel_input_gradient``).
    ``d_step_losses`` are the D losses (real, fake) that ``d_step`` computes.
    """
    d_real_optimizer, d_fake_optimizer = d_optimizers
    with v1.variable_scope(v1.get_variable_scope(), reuse=True), \
            g.graph.gradient_override_map({"MatMul": "MatMulGradientTransposed",
                                            "Conv2D": "Conv2DSingleChannelInputGradient"}):
        Dx_d = discriminator(g.x, reuse_variables=True)
        Dg_d = discriminator(fast_generator(g.z), reuse_variables=True)
        d_loss_real, d_loss_fake, _ = gan_losses(Dx_d, Dg_d)
        g.d_step_losses = d_loss_real, d_loss_fake
        grads_real = d_real_optimizer.compute_gradients(d_loss_real, var_list=g.d_vars)
        grads_fake = d_fake_optimizer.compute_gradients(d_loss_fake, var_list=g.d_vars)
        # Each weight: its real-image update once both its gradients exist, then its fake-image
        # update, so that the result does not depend on TF's scheduler.
        apply_real = d_real_optimizer.apply_gradients(_after(grads_real, {var: grad for grad, var in grads_fake}))
        apply_fake = d_fake_optimizer.apply_gradients(_after(grads_fake, _variable_updates(apply_real, g.d_vars)))
        d_step = tf.group(apply_real, apply_fake, v1.assign_add(g.global_step, 1), name="d_step")
        Gz_g = fast_generator(g.z_g)
        with tf.control_dependencies([d_step]):
            Dg_g = discriminator(Gz_g, reuse_variables=True)
        g_loss_after_d_step = _mean_xent(Dg_g, tf.ones_like)
        train_step = g_optimizer.minimize(g_loss_after_d_step, var_list=g.g_vars, name="train_step")
    return d_step, train_step


def session_config(threads=0):
    """TF's own thread pools (they measured best here); TF places work on a GPU when it sees one.

    ``threads`` > 0 sizes both of TF's pools instead. TF makes its pools once per process, with the
    first session's sizes: a different size needs its own process (``make bench`` starts one).
    """
    config = v1.ConfigProto(allow_soft_placement=True, intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    config.gpu_options.allow_growth = True
    return config


def build_graph(z_dim=Z_DIM, batch_size=BATCH_SIZE, d_learning_rate=D_LEARNING_RATE,
                g_learning_rate=G_LEARNING_RATE, seed=None):
    """Build the whole training graph in a new ``tf.Graph``; returns a namespace of its parts.

    ``seed`` fixes the initial weights (the graph-level random seed). Attributes: graph, x, z,
    z_g, Gz, Dx, Dg, d_loss_real, d_loss_fake, g_loss, d_vars, g_vars, model_variables,
    d_trainer_fake, d_trainer_real, g_trainer, d_step, d_step_losses, train_step, global_step, increment_step,
    merged, D_x, D_G_z, init.
    """
    if z_dim < 4 or batch_size < 1:
        raise ValueError(f"z_dim must be >= 4 and batch_size >= 1, got {z_dim} and {batch_size}")
    g = types.SimpleNamespace(graph=tf.Graph(), z_dim=z_dim, batch_size=batch_size)
    with g.graph.as_default():
        if seed is not None:
            v1.set_random_seed(seed)
        g.x = v1.placeholder(tf.float32, [None, 28, 28, 1], name="x")
        g.z = v1.placeholder(tf.float32, [None, z_dim], name="z")
        g.z_g = v1.placeholder(tf.float32, [None, z_dim], name="z_g")

        g.Gz = generator(g.z, batch_size, z_dim)
        g.Dx = discriminator(g.x)
        g.Dg = discriminator(g.Gz, reuse_variables=True)
        g.d_loss_real, g.d_loss_fake, g.g_loss = gan_losses(g.Dx, g.Dg)
        # What the log line prints: the discriminator's mean belief that real / generated images are real.
        g.D_x = tf.reduce_mean(tf.sigmoid(g.Dx))
        g.D_G_z = tf.reduce_mean(tf.sigmoid(g.Dg))

        g.d_vars, g.g_vars = split_variables(v1.trainable_variables())
        g.model_variables = v1.global_variables()
        g.global_step = v1.train.get_or_create_global_step()
        g.increment_step = v1.assign_add(g.global_step, 1)

        # use_locking: the tutorial runs both D trainers in one sess.run, so both may update the same
        # weights at once; without the lock one update can partly overwrite the other.
        d_fake_optimizer = v1.train.AdamOptimizer(d_learning_rate, use_locking=True)
        d_real_optimizer = v1.train.AdamOptimizer(d_learning_rate, use_locking=True)
        g_optimizer = v1.train.AdamOptimizer(g_learning_rate)
        g.d_trainer_fake = d_fake_optimizer.minimize(g.d_loss_fake, var_list=g.d_vars)
        g.d_trainer_real = d_real_optimizer.minimize(g.d_loss_real, var_list=g.d_vars)
        g.g_trainer = g_optimizer.minimize(g.g_loss, var_list=g.g_vars)
        g.d_step, g.train_step = _fast_train_ops(g, (d_real_optimizer, d_fake_optimizer), g_optimizer)

        g.merged = add_summaries(g.g_loss, g.d_loss_real, g.d_loss_fake, g.Gz)
        g.init = v1.global_variables_initializer()
    return g
