"""The fast training step: the tutorial's iteration as one op, computing the same function with less work.

Nothing here is needed to follow the tutorial: ``ezgan.model`` and ``ezgan.graph`` build the
tutorial's networks and trainers, and ``ezgan.train.literal_iteration`` runs them as the tutorial
did. ``ezgan train`` adds this step to that graph (``FastSteps``) unless told ``--literal``, and
trains about 1.8x faster on a CPU. Every piece computes the same function as the tutorial's
layers, only rounded differently (``tests/test_fast.py`` compares them; ``docs/performance.md``
says where the time goes):

* ``fast_generator``: the generator's bilinear resizes folded into the convolutions that read
  them (``upsample_conv3x3_stride2``), and batch norm + ReLU factored (``batch_norm_relu_factored``);
* matmul gradients computed transposed (``matmul_input_gradient``) and the input gradient of a
  one-channel convolution as a matmul and shifted sums (``conv2d_single_channel_input_gradient``),
  both as gradient overrides;
* ``add_fast_step``: one D step on real and fake images and one G step as a single op, each
  weight updated as soon as its gradients exist.
"""
import dataclasses
import sys

import tensorflow as tf

from ezgan.graph import GANGraph, gan_losses, mean_cross_entropy
from ezgan.hparams import BN_EPSILON
from ezgan.model import discriminator
from ezgan.train import TutorialSteps

v1 = tf.compat.v1


def _register_gradient(name):
    """``tf.RegisterGradient(name)`` that survives re-importing this module.

    TF's registry refuses a name twice, and ``importlib.reload`` or ``%autoreload`` runs this file
    again; so the registered function looks the gradient up in the module as it is now.
    """
    def register(function):
        def current(op, grad):
            return getattr(sys.modules[__name__], function.__name__)(op, grad)

        try:
            tf.RegisterGradient(name)(current)
        except KeyError:  # registered by an earlier import of this module; `current` finds the new code
            pass
        return function

    return register


# 1. The generator, with less work ------------------------------------------------------------------

def batch_norm_relu_factored(inputs, scope, epsilon=BN_EPSILON):
    """``relu(batch_norm(inputs, scope))`` as (activations, scale): their product, per channel.

    Batch norm's 1/std is positive, and relu(a * v) = a * relu(v) for a > 0, so the ReLU of the
    normalised activations is 1/std times relu(x - mean + beta * std). The fast generator hands
    that per-channel scale to the next layer's kernel (a few hundred weights) instead of
    multiplying it into every activation, and the backward pass is written in closed form (the
    gradient through the batch mean and variance, as in the batch norm paper) instead of TF's
    op-by-op one: both save whole passes over the activations. Only float rounding differs from
    ``batch_norm``. Uses its variables (they must exist); the moving averages are left alone.
    """
    axes = list(range(inputs.shape.rank - 1))
    with v1.variable_scope(scope, reuse=True):
        beta = v1.get_variable("beta")

    @tf.custom_gradient
    def normalize_and_relu(x, offset):
        # The statistics as tf.nn.moments computes them, the centring done once (a fast bias add).
        centered = tf.nn.bias_add(x, -tf.reduce_mean(x, axis=axes))
        std = tf.sqrt(tf.reduce_mean(tf.square(centered), axis=axes) + epsilon)
        activations = tf.nn.relu(tf.nn.bias_add(centered, offset * std))

        def backward(activations_gradient, scale_gradient):
            # With g the gradient before the ReLU: d(offset) = sum(g) * std, d(std) = offset * sum(g)
            # - d(scale) / std^2, and since var = mean(centered^2) and centring removes the mean,
            # dx = g - mean(g) + centered * d(std) / (std * count).
            g = tf.raw_ops.ReluGrad(gradients=activations_gradient, features=activations)
            count = tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)
            g_sum = tf.reduce_sum(g, axis=axes)
            std_gradient = offset * g_sum - scale_gradient / tf.square(std)
            x_gradient = g + tf.nn.bias_add(centered * (std_gradient / (std * count)), -g_sum / count)
            return x_gradient, g_sum * std

        return (activations, 1 / std), backward

    return normalize_and_relu(inputs, beta)


# How the samples 2i, 2i+1 and 2i+2 of a 2x bilinear upsampling (TF1's resize_images, no
# align_corners, no half-pixel centres) are made of the input samples x[i] and x[i+1] ...
_UPSAMPLED_FROM_PAIR = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
# ... and of the last input sample x[27] alone: sample 55 repeats it, 56 is SAME's zero padding.
_UPSAMPLED_FROM_LAST = [[1.0], [1.0], [0.0]]


def _fold_axis(kernel, taps, axis):
    """Tap p of the folded kernel along ``axis``: sum over a of taps[a][p] * kernel[a]."""
    rows = tf.unstack(kernel, axis=axis)
    return tf.stack([tf.add_n([row if weight == 1 else weight * row for weight, row in zip(column, rows) if weight])
                     for column in zip(*taps)], axis=axis)


def _folded_kernel(row_taps, column_taps, kernel):
    """The 3x3 kernel seen through the upsampling: weights on the input pixels themselves.

    (Written as a few adds of kernel slices, which ran faster here than one einsum.)
    """
    return _fold_axis(_fold_axis(kernel, row_taps, 0), column_taps, 1)


def upsample_conv3x3_stride2(x, kernel):
    """``conv2d(resize_images(x, 2x size), kernel, stride 2, "SAME")`` without making the 2x image.

    With stride 2, output pixel (i, j) of the 3x3 convolution reads upsampled rows and columns 2i,
    2i+1 and 2i+2, which are x[i], the midpoint of x[i] and x[i+1], and x[i+1]. So away from the
    last row and column it is a 2x2 convolution of x itself with the kernel folded accordingly (a
    quarter of the pixels, 4 taps instead of 9, and no resize or resize gradient); the last row and
    column, where the upsampling repeats the edge and SAME pads with zeros, get their own folds.
    The same function as the tutorial's layers; only float rounding differs. The backward pass is
    written out only to add the edges' input gradients onto x in place.
    """
    pair, last = _UPSAMPLED_FROM_PAIR, _UPSAMPLED_FROM_LAST
    kernels = [_folded_kernel(rows, columns, kernel) for rows, columns in
               ((pair, pair), (pair, last), (last, pair), (last, last))]

    @tf.custom_gradient
    def convolve(x, *kernels):
        # The whole map, its last column, its last row, its corner.
        parts = list(zip((x, x[:, :, -1:], x[:, -1:], x[:, -1:, -1:]), kernels))
        out = [tf.nn.conv2d(inputs, k, strides=1, padding="VALID") for inputs, k in parts]
        y = tf.concat([tf.concat(out[:2], axis=2), tf.concat(out[2:], axis=2)], axis=1)

        def backward(dy):
            rows, columns = dy.shape[1] - 1, dy.shape[2] - 1
            dys = (dy[:, :rows, :columns], dy[:, :rows, columns:], dy[:, rows:, :columns], dy[:, rows:, columns:])
            # Each convolution's own gradients (to its input and its kernel); the edges' input
            # gradients are then added onto x's last column, row and corner in place, where TF's
            # gradient of the slices would write three whole-size maps and sum them.
            (x_gradient, *edge_gradients), kernel_gradients = zip(
                *(tf.gradients(conv, [inputs, k], d) for conv, (inputs, k), d in zip(out, parts, dys)))
            return (_add_to_edges(x_gradient, edge_gradients), *kernel_gradients)

        return y, backward

    return convolve(x, *kernels)


def _add_to_edges(gradient, edge_gradients):
    """``gradient`` (batch, h, w, c) plus the gradients of its last column, last row and corner."""
    batch, height, width = tf.shape(gradient)[0], gradient.shape[1], gradient.shape[2]
    edges = ((range(height), [width - 1]), ([height - 1], range(width)), ([height - 1], [width - 1]))
    indices, updates = [], []
    for edge_gradient, (rows, columns) in zip(edge_gradients, edges):
        n, i, j = tf.meshgrid(tf.range(batch), list(rows), list(columns), indexing="ij")
        indices.append(tf.reshape(tf.stack([n, i, j], axis=-1), [-1, 3]))
        updates.append(tf.reshape(edge_gradient, [-1, gradient.shape[-1]]))
    return tf.tensor_scatter_nd_add(gradient, tf.concat(indices, 0), tf.concat(updates, 0))


def _scaled_input_channels(kernel, scale):
    """``kernel`` with input channel c multiplied by ``scale[c]``: conv(x * scale, k) = conv(x, k * scale)."""
    return kernel * tf.reshape(scale, [1, 1, -1, 1])


def fast_generator(z):
    """``generator``'s function with less work: the generator of the fast training step.

    It reads the generator's variables, so build it after ``generator``, in the same graph. Each
    change computes the same function; only float rounding differs (tests compare the two):

    * each bilinear resize is folded into the stride-2 convolution that reads it
      (``upsample_conv3x3_stride2``), and the last 1x1 stride-2 convolution of the resized map
      just reads the 28x28 map: no 56x56 map is made after the first layer;
    * batch norm and ReLU are ``batch_norm_relu_factored``: its per-channel scale goes into the
      next layer's kernel, and its backward pass is written out.
    """
    with v1.variable_scope(v1.get_variable_scope(), reuse=True):
        g_w1, g_b1, g_w2, g_b2, g_w3, g_b3, g_w4, g_b4 = (
            v1.get_variable(name) for name in ("g_w1", "g_b1", "g_w2", "g_b2", "g_w3", "g_b3", "g_w4", "g_b4"))
        if z.shape.rank != 2 or z.shape[-1] != g_w1.shape[0]:
            raise ValueError(f"generator expects z shaped (batch, {g_w1.shape[0]}), got {z.shape}")
        g1 = tf.reshape(tf.nn.bias_add(tf.matmul(z, g_w1), g_b1), [-1, 56, 56, 1])
        g1, scale = batch_norm_relu_factored(g1, "g_b1")
        g2 = tf.nn.conv2d(g1, _scaled_input_channels(g_w2, scale), strides=[1, 2, 2, 1], padding="SAME")
        g2, scale = batch_norm_relu_factored(tf.nn.bias_add(g2, g_b2), "g_b2")
        g3 = upsample_conv3x3_stride2(g2, _scaled_input_channels(g_w3, scale))
        g3, scale = batch_norm_relu_factored(tf.nn.bias_add(g3, g_b3), "g_b3")
        g4 = tf.nn.conv2d(g3, _scaled_input_channels(g_w4, scale), strides=[1, 1, 1, 1], padding="SAME")
        return tf.sigmoid(tf.nn.bias_add(g4, g_b4))


# 2. Gradients, computed faster --------------------------------------------------------------------

def matmul_input_gradient(grad, weights):
    """The gradient of ``matmul(inputs, weights)`` with respect to ``inputs``, computed transposed.

    TF's own gradient computes ``matmul(grad, weights, transpose_b=True)``, which on this CPU is
    slow for the discriminator's 3136x1024 layer; ``transpose(matmul(weights, grad,
    transpose_b=True))`` is the same product, faster (``make bench`` times both).
    """
    return tf.transpose(tf.matmul(weights, grad, transpose_b=True))


@_register_gradient("MatMulGradientTransposed")
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


@_register_gradient("Conv2DSingleChannelInputGradient")
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



# 3. The iteration as one op ------------------------------------------------------------------------

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


@dataclasses.dataclass
class FastStep:
    """The fast step's ops, added to a tutorial graph by ``add_fast_step``.

    ``z_g`` is the G step's own noise (the tutorial feeds fresh noise to its G step too);
    ``d_step`` is one pre-training step, ``d_step_losses`` the D losses (real, fake) it computes;
    ``train_step`` is one whole iteration.
    """
    gan: GANGraph
    z_g: tf.Tensor
    d_step: tf.Operation
    d_step_losses: tuple
    train_step: tf.Operation

    def pretrain_step(self, sess, real, z_d):
        """One D-only step; returns (d_loss_real, d_loss_fake), as ``ezgan.train.pretrain_step``."""
        return sess.run([self.d_step, *self.d_step_losses], {self.gan.x: real, self.gan.z: z_d})[1:]

    def iteration(self, sess, real, z_d, z_g, **run_options):
        """``ezgan.train.literal_iteration`` as one call: the order lives in the graph's control dependencies.

        ``run_options`` go to ``sess.run`` (``options`` and ``run_metadata``: ``make bench`` traces it).
        """
        sess.run(self.train_step, {self.gan.x: real, self.gan.z: z_d, self.z_g: z_g}, **run_options)


def add_fast_step(gan):
    """Add ``train_step`` and ``d_step`` to the tutorial graph ``gan``: one iteration (or one
    pre-training step) as one op, sharing the tutorial's variables and optimizer state.

    The D updates on real and on fake are both computed from the weights as they were when the
    step began, as in the tutorial's single ``sess.run([d_trainer_real, d_trainer_fake])``. Each
    weight is updated as soon as its own two gradients exist (so Adam on the big layer overlaps
    with the rest of the backward pass); gradients still to come see the old values because TF's
    training ops copy a variable before updating it while a read of it is in use
    (``PrepareToUpdateVariable``). The G update then sees the updated discriminator (its forward
    pass is built under a control dependency on the D updates) and its own noise ``z_g``. These
    ops build their own copies of the networks (same variables) with the faster pieces above.
    """
    with gan.graph.as_default(), v1.variable_scope(v1.get_variable_scope(), reuse=True), \
            gan.graph.gradient_override_map({"MatMul": "MatMulGradientTransposed",
                                             "Conv2D": "Conv2DSingleChannelInputGradient"}), \
            tf.name_scope("fast_step"):
        z_g = v1.placeholder(tf.float32, [None, gan.z_dim], name="z_g")
        Dx_logits = discriminator(gan.x, reuse_variables=True)
        Dg_logits = discriminator(fast_generator(gan.z), reuse_variables=True)
        d_loss_real, d_loss_fake, _ = gan_losses(Dx_logits, Dg_logits)
        grads_real = gan.d_real_optimizer.compute_gradients(d_loss_real, var_list=gan.d_vars)
        grads_fake = gan.d_fake_optimizer.compute_gradients(d_loss_fake, var_list=gan.d_vars)
        # Each weight: its real-image update once both its gradients exist, then its fake-image
        # update, so that the result does not depend on TF's scheduler.
        apply_real = gan.d_real_optimizer.apply_gradients(_after(grads_real, {var: grad for grad, var in grads_fake}))
        apply_fake = gan.d_fake_optimizer.apply_gradients(
            _after(grads_fake, _variable_updates(apply_real, gan.d_vars)))
        d_step = tf.group(apply_real, apply_fake, v1.assign_add(gan.global_step, 1), name="d_step")
        generated = fast_generator(z_g)
        with tf.control_dependencies([d_step]):
            Dg_logits_after_d_step = discriminator(generated, reuse_variables=True)
        g_loss_after_d_step = mean_cross_entropy(Dg_logits_after_d_step, tf.ones_like)
        train_step = gan.g_optimizer.minimize(g_loss_after_d_step, var_list=gan.g_vars, name="train_step")
    return FastStep(gan, z_g, d_step, (d_loss_real, d_loss_fake), train_step)


class FastSteps(TutorialSteps):
    """``ezgan.train.TutorialSteps`` with ``add_fast_step``'s ops: what ``ezgan train`` runs on the tutorial's graph."""

    def __init__(self, gan):
        super().__init__(gan)
        self.fast_step = add_fast_step(gan)

    def pretrain(self, sess, real, noise):
        return self.fast_step.pretrain_step(sess, real, noise.d)

    def iterate(self, sess, real, noise):
        self.fast_step.iteration(sess, real, noise.d, noise.g)
