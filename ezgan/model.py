"""Tutorial steps 2 and 3: the discriminator and the generator, in TF1 style.

Variable names and shapes are exactly the original checkpoint's (d_w1 ... g_b4, g_b{1,2,3}/beta,
g_b{1,2,3}/moving_mean, g_b{1,2,3}/moving_variance), so a checkpoint in that layout restores.
Call these inside a graph (``tf.compat.v1.disable_eager_execution()`` or ``with graph.as_default()``).
"""
import tensorflow as tf

from ezgan.hparams import BN_DECAY, BN_EPSILON, INIT_STDDEV

v1 = tf.compat.v1


def _weights(name, shape):
    return v1.get_variable(name, shape, initializer=v1.truncated_normal_initializer(stddev=INIT_STDDEV))


def _zeros(name, shape):
    return v1.get_variable(name, shape, initializer=v1.constant_initializer(0))


def _check_images(images):
    if images.shape.rank != 4 or tuple(images.shape[1:]) != (28, 28, 1):
        raise ValueError(f"discriminator expects images shaped (batch, 28, 28, 1), got {images.shape}")


def batch_norm(inputs, scope, epsilon=BN_EPSILON, decay=BN_DECAY):
    """``tf.contrib.layers.batch_norm`` as the tutorial called it: center, no scale, batch statistics.

    contrib's defaults were ``is_training=True`` and ``updates_collections=UPDATE_OPS``: the layer
    always normalises with the statistics of the batch in hand, and the moving averages it keeps
    change only if somebody runs the ops in ``tf.GraphKeys.UPDATE_OPS``. The tutorial never did, so
    its ``moving_mean`` stays 0 and ``moving_variance`` stays 1 for the whole run, and sampling
    also uses batch statistics. We reproduce exactly that (contrib of 2017 took this unfused path).
    """
    channels = inputs.shape[-1]
    not_trained = [v1.GraphKeys.GLOBAL_VARIABLES, v1.GraphKeys.MODEL_VARIABLES]
    with v1.variable_scope(scope):
        beta = v1.get_variable("beta", [channels], initializer=v1.zeros_initializer())
        moving_mean = v1.get_variable("moving_mean", [channels], initializer=v1.zeros_initializer(),
                                      trainable=False, collections=not_trained)
        moving_variance = v1.get_variable("moving_variance", [channels], initializer=v1.ones_initializer(),
                                          trainable=False, collections=not_trained)
        mean, variance = tf.nn.moments(inputs, axes=list(range(inputs.shape.rank - 1)))
        v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign_sub(moving_mean, (moving_mean - mean) * (1 - decay)))
        v1.add_to_collection(v1.GraphKeys.UPDATE_OPS,
                             v1.assign_sub(moving_variance, (moving_variance - variance) * (1 - decay)))
        return tf.nn.batch_normalization(inputs, mean, variance, offset=beta, scale=None, variance_epsilon=epsilon)


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


def discriminator(images, reuse_variables=None):
    """Images (batch, 28, 28, 1) -> one unscaled logit per image (batch, 1): "is this real?".

    Two 5x5 conv layers (32 then 64 features), each with ReLU and 2x2 average pooling, then a
    fully connected layer of 1024 and a last one to a single logit. The logit is not squashed by a
    sigmoid here: the losses take logits, which stays accurate where a sigmoid would saturate.
    ``reuse_variables=True`` builds a second copy that shares the first one's weights.
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        d_w1 = _weights("d_w1", [5, 5, 1, 32])
        d_b1 = _zeros("d_b1", [32])
        d1 = tf.nn.bias_add(tf.nn.conv2d(images, d_w1, strides=[1, 1, 1, 1], padding="SAME"), d_b1)
        d1 = tf.nn.avg_pool2d(tf.nn.relu(d1), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

        d_w2 = _weights("d_w2", [5, 5, 32, 64])
        d_b2 = _zeros("d_b2", [64])
        d2 = tf.nn.bias_add(tf.nn.conv2d(d1, d_w2, strides=[1, 1, 1, 1], padding="SAME"), d_b2)
        d2 = tf.nn.avg_pool2d(tf.nn.relu(d2), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

        d_w3 = _weights("d_w3", [7 * 7 * 64, 1024])
        d_b3 = _zeros("d_b3", [1024])
        d3 = tf.nn.relu(tf.nn.bias_add(tf.matmul(tf.reshape(d2, [-1, 7 * 7 * 64]), d_w3), d_b3))

        d_w4 = _weights("d_w4", [1024, 1])
        d_b4 = _zeros("d_b4", [1])
        return tf.nn.bias_add(tf.matmul(d3, d_w4), d_b4)


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


def generator(z, batch_size, z_dim):
    """Noise z (batch, z_dim) -> images (batch, 28, 28, 1) in (0, 1).

    A fully connected layer makes a 56x56 single-channel picture; two stride-2 3x3 convolutions
    (z_dim//2 then z_dim//4 features), each followed by batch norm, ReLU and a bilinear resize back
    to 56x56, and a last stride-2 1x1 convolution to 28x28x1 with a sigmoid. ``batch_size`` is kept
    for the tutorial's signature; every shape follows from ``z``. To build a second copy that shares
    these variables, call it inside ``variable_scope(get_variable_scope(), reuse=True)``.
    """
    if z.shape.rank != 2 or z.shape[-1] != z_dim:
        raise ValueError(f"generator expects z shaped (batch, {z_dim}), got {z.shape}")
    g_w1 = _weights("g_w1", [z_dim, 3136])
    g_b1 = _weights("g_b1", [3136])
    g1 = tf.reshape(tf.nn.bias_add(tf.matmul(z, g_w1), g_b1), [-1, 56, 56, 1])
    g1 = tf.nn.relu(batch_norm(g1, "g_b1"))

    # z_dim // 2, not z_dim / 2: a float shape is an error in Python 3.
    g_w2 = _weights("g_w2", [3, 3, 1, z_dim // 2])
    g_b2 = _weights("g_b2", [z_dim // 2])
    g2 = tf.nn.bias_add(tf.nn.conv2d(g1, g_w2, strides=[1, 2, 2, 1], padding="SAME"), g_b2)
    g2 = tf.nn.relu(batch_norm(g2, "g_b2"))
    g2 = v1.image.resize_images(g2, [56, 56])

    g_w3 = _weights("g_w3", [3, 3, z_dim // 2, z_dim // 4])
    g_b3 = _weights("g_b3", [z_dim // 4])
    g3 = tf.nn.bias_add(tf.nn.conv2d(g2, g_w3, strides=[1, 2, 2, 1], padding="SAME"), g_b3)
    g3 = tf.nn.relu(batch_norm(g3, "g_b3"))
    g3 = v1.image.resize_images(g3, [56, 56])

    g_w4 = _weights("g_w4", [1, 1, z_dim // 4, 1])
    g_b4 = _weights("g_b4", [1])
    g4 = tf.nn.bias_add(tf.nn.conv2d(g3, g_w4, strides=[1, 2, 2, 1], padding="SAME"), g_b4)
    return tf.sigmoid(g4)


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
