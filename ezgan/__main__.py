"""Command line: ``python -m ezgan {train,sample,export,evaluate} --help``."""
import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF start-up chatter (CUDA probing, oneDNN notes) hides our own messages

from ezgan import hparams  # noqa: E402


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def add_train(commands):
    p = commands.add_parser("train", help="train the GAN (the tutorial's schedule by default)",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--iterations", type=non_negative_int, default=hparams.ITERATIONS,
                   help="main-loop iterations (one D step and one G step each)")
    p.add_argument("--pretrain-steps", type=non_negative_int, default=hparams.PRETRAIN_STEPS,
                   help="discriminator-only steps before the main loop")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights, data order and noise")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --checkpoint-dir from its latest checkpoint")
    p.add_argument("--logdir", default=None,
                   help="TensorBoard folder (default: tensorboard/<start time>; on --resume, the run's own)")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where checkpoints and run.json go")
    p.add_argument("--checkpoint-every", type=positive_int, default=1000, help="iterations between checkpoints")
    p.add_argument("--summary-every", type=positive_int, default=hparams.SUMMARY_EVERY,
                   help="iterations between TensorBoard summaries")
    p.add_argument("--literal", action="store_true",
                   help="run the tutorial's two-call loop instead of the single-op train_step")
    p.add_argument("--dry-run", action="store_true",
                   help="build everything and run 2 pre-training steps and 2 iterations; write nothing")


def add_sample(commands):
    p = commands.add_parser("sample", help="write digits from a checkpoint as a PNG grid or a .npy array",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default="pretrained", help="checkpoint directory or prefix")
    p.add_argument("--n", type=positive_int, default=64, help="how many digits")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--out", default="samples.png", help="output: .png for a picture, .npy for the array")


def add_export(commands):
    p = commands.add_parser("export", help="copy a checkpoint's model variables (no optimizer state) to a folder",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint directory or prefix to copy from")
    p.add_argument("--out", default="pretrained", help="folder to write the model checkpoint to")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ezgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_train(commands)
    add_sample(commands)
    add_export(commands)
    from ezgan import evaluate  # imports TensorFlow: only once the environment above is set
    evaluate.add_arguments(commands)
    args = parser.parse_args(argv)

    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    from ezgan.mnist import MnistError
    from ezgan.sample import CheckpointError
    try:
        if args.command == "train":
            run_train(args)
        elif args.command == "sample":
            run_sample(args)
        elif args.command == "evaluate":
            evaluate.run(args)
        else:
            from ezgan.train import export_model
            print(f"wrote {export_model(args.checkpoint, args.out)}")
    except (MnistError, CheckpointError, FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")


def run_train(args):
    from ezgan.train import format_row, new_logdir, train
    if args.dry_run:
        history = train(iterations=2, pretrain_steps=2, seed=args.seed, logdir=None, checkpoint_dir=None,
                        summary_every=1, literal=args.literal)
        print(format_row(history[-1], 2))
        print("dry run: the graph builds and trains; nothing was written")
        return
    logdir = args.logdir or (None if args.resume else new_logdir())
    train(iterations=args.iterations, pretrain_steps=args.pretrain_steps, seed=args.seed, logdir=logdir,
          checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, resume=args.resume,
          literal=args.literal, summary_every=args.summary_every)


def run_sample(args):
    import numpy as np
    from ezgan.sample import sample, save_grid
    out = pathlib.Path(args.out)
    if out.suffix not in (".png", ".npy"):
        raise ValueError(f"{out}: --out must end in .png or .npy")
    images = sample(args.n, args.seed, args.checkpoint)
    if out.suffix == ".npy":
        np.save(out, images)
    else:
        save_grid(images, out)
    print(f"wrote {len(images)} digits to {out}")


if __name__ == "__main__":
    main()
