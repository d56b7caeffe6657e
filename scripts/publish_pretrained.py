"""Turn a training run into what the repository ships: ``pretrained/`` and ``tensorboard/tutorial-run/``.

From the run folder (only read; the run may still be training):

* its latest model checkpoint, exported to ``pretrained/`` (model variables only, with run.json);
* ``pretrained/samples.png``: the run's fixed-noise grid, drawn by that checkpoint;
* ``pretrained/training.gif``: the fixed-noise grid across training, labelled by iteration;
* ``tensorboard/tutorial-run/``: the run's events, every scalar, the images every 1,000 iterations;
* ``pretrained/evaluation.json`` and (without --skip-curve) ``pretrained/quality_curve.{csv,png,json}``;
* ``pretrained/publish.json`` and ``pretrained/MODEL_CARD.md``, rendered from all of the above.

The work is done by ``ezgan.publish``; this is its command line (``make publish``).
Usage: ``python scripts/publish_pretrained.py [--run DIR] [--n 10000] [--seed 0] [--skip-curve]``.
"""
import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None):
    from ezgan.publish import DEFAULT_RUN, IMAGE_EVERY, TENSORBOARD_COPY

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help=f"the training run's folder (default {DEFAULT_RUN})")
    parser.add_argument("--n", type=int, default=10_000, help="digits per evaluated row (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the evaluation (default 0)")
    parser.add_argument("--skip-curve", action="store_true",
                        help="do not measure the milestones (the quality curve): saves most of the time")
    parser.add_argument("--out", default=str(REPO / "pretrained"), help="where the checkpoint and its files go")
    parser.add_argument("--tensorboard", default=str(TENSORBOARD_COPY),
                        help="folder for the TensorBoard copy (replaced)")
    parser.add_argument("--image-every", type=int, default=IMAGE_EVERY,
                        help=f"keep image summaries every this many iterations (default {IMAGE_EVERY})")
    args = parser.parse_args(argv)

    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    from ezgan.mnist import MnistError
    from ezgan.publish import publish
    from ezgan.sample import CheckpointError

    started = time.perf_counter()
    try:
        publish(args.run, args.out, args.tensorboard, n=args.n, seed=args.seed, curve=not args.skip_curve,
                image_every=args.image_every)
    except (MnistError, CheckpointError, FileNotFoundError, ValueError, RuntimeError) as error:
        sys.exit(f"error: {error}")
    print(f"published in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
