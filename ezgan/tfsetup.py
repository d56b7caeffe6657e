"""One way to start TensorFlow for this project: quiet, and in TF1 graph mode.

The command line, the notebooks, the tests and the tools all call ``tensorflow()`` before they
build a graph. It silences TensorFlow's start-up notes (CUDA probing, oneDNN), which are written
to the process's stderr before any log level applies, and switches eager execution off, which
is what every ``tf.compat.v1`` placeholder and ``Session`` here needs.
"""
import contextlib
import os
import sys


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Silence file descriptor 2 while TensorFlow loads its C++ libraries (Python errors still raise)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensorflow():
    """TensorFlow, imported quietly, its logger at ERROR, eager execution off; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with _quiet_stderr_fd():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    return tf


def session_config(threads=0):
    """A session's settings: TF's own thread pools, and a GPU whenever TensorFlow sees one.

    ``threads`` > 0 sizes both of TF's pools instead. TF makes its pools once per process, with the
    first session's sizes: a different size needs its own process (``make bench`` starts one).
    """
    import tensorflow as tf

    config = tf.compat.v1.ConfigProto(allow_soft_placement=True, intra_op_parallelism_threads=threads,
                                      inter_op_parallelism_threads=threads)
    config.gpu_options.allow_growth = True
    return config
