"""Tutorial steps 2 and 3: the discriminator and the generator, in TF1 style.

Variable names and shapes are the original checkpoint's (d_w1 ... g_b4, g_b{1,2,3}/beta, g_b{1,2,3}/moving_mean,
g_b{1,2,3}/moving_variance), so a checkpoint in that layout restores. Call these inside a graph.
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


def discriminator(images, reuse_variables=None, activation=tf.nn.relu):
    """Images (batch, 28, 28, 1) -> one unscaled logit per image (batch, 1): "is this real?".

    Two 5x5 conv layers (32 then 64 features), each with ReLU and 2x2 average pooling, then a
    fully connected layer of 1024 and a last one to a single logit. The logit is not squashed by a
    sigmoid here: the losses take logits, which stays accurate where a sigmoid would saturate.
    ``reuse_variables=True`` builds a second copy that shares the first one's weights.
    ``activation`` replaces the ReLUs (``ezgan.lab.recipes`` tries a leaky one).
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        d_w1 = _weights("d_w1", [5, 5, 1, 32])
        d_b1 = _zeros("d_b1", [32])
        d1 = tf.nn.bias_add(tf.nn.conv2d(images, d_w1, strides=[1, 1, 1, 1], padding="SAME"), d_b1)
        d1 = tf.nn.avg_pool2d(activation(d1), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

        d_w2 = _weights("d_w2", [5, 5, 32, 64])
        d_b2 = _zeros("d_b2", [64])
        d2 = tf.nn.bias_add(tf.nn.conv2d(d1, d_w2, strides=[1, 1, 1, 1], padding="SAME"), d_b2)
        d2 = tf.nn.avg_pool2d(activation(d2), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

        d_w3 = _weights("d_w3", [7 * 7 * 64, 1024])
        d_b3 = _zeros("d_b3", [1024])
        d3 = activation(tf.nn.bias_add(tf.matmul(tf.reshape(d2, [-1, 7 * 7 * 64]), d_w3), d_b3))

        d_w4 = _weights("d_w4", [1024, 1])
        d_b4 = _zeros("d_b4", [1])
        return tf.nn.bias_add(tf.matmul(d3, d_w4), d_b4)


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
