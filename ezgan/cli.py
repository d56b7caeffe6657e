"""The command line: ``ezgan {train,sample,export,evaluate,curve,train-classifier} --help``.

Mistakes of the user's (``ezgan.errors.EzganError``: a missing file, a damaged checkpoint, a bad
path) print one line and exit with status 2, as argparse does for bad flags; anything else is a
bug and prints its traceback.
"""
import argparse
import pathlib
import sys

from ezgan import hparams
from ezgan.errors import EzganError

USAGE_ERROR = 2   # argparse's exit status for a bad command line; ours for every user mistake


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


def _command(commands, name, help):
    return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_train(commands):
    p = _command(commands, "train", "train the GAN (the tutorial's schedule by default)")
    p.add_argument("--iterations", type=non_negative_int, default=hparams.ITERATIONS,
                   help="main-loop iterations (one D step and one G step each)")
    p.add_argument("--pretrain-steps", type=non_negative_int, default=argparse.SUPPRESS,
                   help=f"discriminator-only steps before the main loop (default: {hparams.PRETRAIN_STEPS}; "
                        f"0 with the guided controller, which never pre-trains, or with --no-pretraining)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the initial weights, data order and noise")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --checkpoint-dir from its latest checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in a --checkpoint-dir that holds a run, deleting that run's files")
    p.add_argument("--logdir", default=None,
                   help="TensorBoard folder (default: tensorboard/<start time>; on --resume, the run's own)")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where checkpoints and run.json go")
    p.add_argument("--checkpoint-every", type=positive_int, default=1000, help="iterations between checkpoints")
    p.add_argument("--summary-every", type=positive_int, default=hparams.SUMMARY_EVERY,
                   help="iterations between TensorBoard summaries")
    p.add_argument("--milestone-every", type=positive_int, default=5000,
                   help="iterations between milestone checkpoints, kept for good (`ezgan curve` scores them)")
    p.add_argument("--threads", type=non_negative_int, default=0,
                   help="size of TensorFlow's thread pools; 0: TensorFlow's choice (`make ablation`: 1, two runs at once)")
    p.add_argument("--literal", action="store_true",
                   help="run the tutorial's two-call loop instead of the fast single-op step (ezgan.runs.fast)")
    p.add_argument("--dry-run", action="store_true",
                   help="build everything and run 2 pre-training steps and 2 iterations; write nothing")
    add_recipe_options(p.add_argument_group(
        "recipes beyond the tutorial (ezgan.lab.recipes)", "Each left out is the tutorial's (or --recipe's); "
        "--resume keeps the run's own recipe."))


def add_recipe_options(group):
    # SUPPRESS: a switch not given stays out of args (and --help shows the tutorial's value in words).
    add = lambda *flags, **options: group.add_argument(*flags, default=argparse.SUPPRESS, **options)  # noqa: E731
    add("--recipe", metavar="NAME", help="a named recipe of ezgan.lab.recipes.RECIPES (the ablation's rows: guided, "
                                         "smooth, beta1, leaky, dcgan, ema, hacks, ...); the switches below change it")
    add("--guided", action="store_true", help="jonbruner/ezgan's guided controller: each update only while its loss "
                                              "is above a threshold, no pre-training, real label 0.9, rates 1e-3/4e-3")
    add("--no-pretraining", action="store_false", dest="pretrain",
        help=f"no discriminator-only steps before the main loop (tutorial: {hparams.PRETRAIN_STEPS})")
    add("--label-smoothing", type=float, metavar="REAL_LABEL",
        help="label of real images in D's loss; 0.9 is one-sided label smoothing (tutorial: 1)")
    add("--beta1", type=float, help="Adam's beta1 for all three optimizers; DCGAN's is 0.5 (tutorial: TF's 0.9)")
    add("--leaky-relu", action="store_true", help="leaky ReLUs (slope 0.2) in the discriminator (tutorial: ReLU)")
    add("--one-d-optimizer", action="store_true",
        help="one Adam on the sum of D's two losses (tutorial: one optimizer per loss, real and generated)")
    add("--minibatch-stddev", action="store_true",
        help="D also sees how varied its batch is (ProGAN's minibatch standard deviation; against mode dropping)")
    add("--discriminator", choices=["tutorial", "dcgan"],
        help="dcgan: two 4x4 stride-2 convolutions, leaky ReLUs, batch norm, one dense layer (tutorial: 5x5 convolutions, "
             "average pooling, a 1024-unit layer)")
    add("--generator", choices=["tutorial", "dcgan", "dcgan-wide"],
        help="dcgan: dense to 7x7 maps, batch norm, two transposed convolutions to 28x28; dcgan-wide: the same with "
             "twice the maps (tutorial: the 56x56 one)")
    add("--ema", type=float, metavar="DECAY", dest="ema_decay",
        help="sample from a moving average of G's weights with this decay, e.g. 0.999 (tutorial: 0, off)")
    add("--d-learning-rate", type=float, help=f"Adam's rate for D (tutorial: {hparams.D_LEARNING_RATE:g})")
    add("--g-learning-rate", type=float, help=f"Adam's rate for G (tutorial: {hparams.G_LEARNING_RATE:g})")


def train_recipe(args):
    """The recipe of ``ezgan train``'s flags; None for the tutorial's own (its run.json then has no recipe)."""
    import dataclasses

    from ezgan.lab.recipes import Recipe, TUTORIAL
    # Every Recipe field is a switch of the same name (dest); one not given is absent from args.
    recipe = Recipe.from_switches(getattr(args, "recipe", None),
                                  **{field.name: getattr(args, field.name, None) for field in dataclasses.fields(Recipe)})
    return None if recipe == TUTORIAL else recipe


def add_sample(commands):
    p = _command(commands, "sample", "write digits from a checkpoint as a PNG grid or a .npy array")
    p.add_argument("--checkpoint", action="append", default=None,
                   help="checkpoint directory or prefix (default: pretrained/); give it again for grids side by side "
                        "in one PNG, each labelled with its checkpoint and recipe")
    p.add_argument("--n", type=positive_int, default=64, help="how many digits (at most a million)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the noise")
    p.add_argument("--out", default="samples.png", help="output: .png for a picture, .npy for the array")


def add_export(commands):
    p = _command(commands, "export", "copy a checkpoint's model variables (no optimizer state) to a folder")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory or numbered prefix to copy from")
    p.add_argument("--out", default="pretrained", help="folder to write the model checkpoint to")


def _measure_options(parser):
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder (default: pretrained/classifier)")
    parser.add_argument("--n", type=positive_int, default=10_000, help="images per row (at least 10)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the noise, of the real training images drawn and of the untrained generator")


def add_evaluate(commands):
    p = _command(commands, "evaluate", "score a checkpoint's digits with an MNIST classifier")
    p.add_argument("--checkpoint", default=None, help="generator checkpoint: directory or prefix (default: pretrained/)")
    _measure_options(p)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--references", action="store_true",
                   help="add the reference rows: real test set, real training images, untrained generator")

    p = _command(commands, "curve", "score every milestone checkpoint of a training run; CSV, PNG and JSON")
    p.add_argument("--milestones", required=True, help="a run's milestones folder (model.ckpt-STEP files)")
    p.add_argument("--out", default="pretrained/quality_curve", help="writes OUT.csv, OUT.png and OUT.json")
    p.add_argument("--pretrain-steps", type=non_negative_int, default=None,
                   help="pre-training steps to subtract from each global step (default: the run's own, from its run.json)")
    _measure_options(p)

    p = _command(commands, "train-classifier", "train the MNIST classifier that `evaluate` and `curve` use")
    p.add_argument("--out", default="pretrained/classifier", help="folder for the checkpoint and its JSON")
    p.add_argument("--epochs", type=positive_int, default=6, help="passes over the 55,000 training images")
    p.add_argument("--batch-size", type=positive_int, default=100, help="images per Adam step")
    p.add_argument("--learning-rate", type=float, default=1e-3,
                   help="Adam's initial rate, decayed after every epoch")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the initial weights, dropout and data order")


def parser():
    top = argparse.ArgumentParser(prog="ezgan", description="GANs for beginners: the O'Reilly tutorial's GAN on "
                                                            "MNIST, in TensorFlow's TF1 style.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_train, add_sample, add_export, add_evaluate):
        add(commands)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    from ezgan.tfsetup import tensorflow

    tensorflow()
    try:
        RUN[args.command](args)
    except EzganError as error:
        print(f"ezgan {args.command}: error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def run_train(args):
    from ezgan.runs.outputs import check_folder
    from ezgan.lab.recipes import TUTORIAL
    from ezgan.train import format_row, new_logdir, train
    recipe = train_recipe(args)
    pretrain_steps = getattr(args, "pretrain_steps", (recipe or TUTORIAL).pretrain_steps)
    if args.dry_run:
        history = train(iterations=2, pretrain_steps=min(pretrain_steps, 2), seed=args.seed, logdir=None,
                        checkpoint_dir=None, summary_every=1, literal=args.literal, progress=False, recipe=recipe,
                        threads=args.threads)
        print(format_row(history[-1], 2))
        print("dry run: the graph builds and trains; nothing was written")
        return
    if args.iterations == 0 and not args.resume:
        print("nothing to do: --iterations 0")
        return
    logdir = args.logdir or (None if args.resume else new_logdir())
    for flag, folder in (("--checkpoint-dir", args.checkpoint_dir), ("--logdir", logdir)):
        if folder:   # before the graph is built and minutes of training are lost at the first checkpoint
            check_folder(folder, f"{flag} {folder}")
    train(iterations=args.iterations, pretrain_steps=pretrain_steps, seed=args.seed, logdir=logdir,
          checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, resume=args.resume,
          literal=args.literal, summary_every=args.summary_every, milestone_every=args.milestone_every,
          recipe=recipe, threads=args.threads, overwrite=args.overwrite)


def run_sample(args):
    import numpy as np

    from ezgan.runs.outputs import atomic_output, check_output
    from ezgan.lab.checkpoints import checkpoint_label
    from ezgan.lab.pictures import save_labelled_grids
    from ezgan.sample import MAX_DIGITS, sample, save_grid
    if args.n > MAX_DIGITS:
        raise EzganError(f"--n {args.n}: at most {MAX_DIGITS:,} digits at once (their pixels alone take "
                         f"{MAX_DIGITS * 28 * 28 * 4 / 1e9:.1f} GB)")
    out = pathlib.Path(args.out)
    if out.suffix not in (".png", ".npy"):
        raise EzganError(f"{out}: --out must end in .png or .npy")
    checkpoints = args.checkpoint or [None]
    if len(checkpoints) > 1 and out.suffix != ".png":
        raise EzganError(f"{out}: several --checkpoint need a .png --out (grids side by side)")
    check_output(out)   # before the checkpoint is loaded
    if len(checkpoints) > 1:
        save_labelled_grids([(checkpoint_label(checkpoint), sample(args.n, args.seed, checkpoint))
                             for checkpoint in checkpoints], out)
        print(f"wrote {len(checkpoints)} grids of {args.n} digits to {out}")
        return
    images = sample(args.n, args.seed, checkpoints[0])
    if out.suffix == ".npy":
        with atomic_output(out) as file:
            np.save(file, images)
    else:
        save_grid(images, out)
    print(f"wrote {len(images)} digits to {out}")


def run_export(args):
    from ezgan.lab.checkpoints import export_model
    print(f"wrote {export_model(args.checkpoint, args.out)}")


def run_evaluate(args):
    from ezgan.lab import evaluate
    from ezgan.runs.checkpoints import resolve_checkpoint
    from ezgan.runs.outputs import write_json
    from ezgan.paths import pretrained_dir
    prefix = resolve_checkpoint(args.checkpoint or pretrained_dir())
    rows, classifier = evaluate.evaluate_checkpoint(prefix, args.n, args.seed, args.classifier, args.references)
    print(evaluate.format_table(rows))
    if args.json:
        write_json(args.json, dict(checkpoint=prefix, n=args.n, seed=args.seed, classifier=classifier.checkpoint,
                                   classifier_test_accuracy=classifier.info.get("test_accuracy"), rows=rows))
        print(f"wrote {args.json}")


def run_curve(args):
    from ezgan.lab import evaluate
    evaluator = evaluate.Evaluator(args.classifier)
    try:
        rows, references = evaluate.quality_curve(args.milestones, args.out, evaluator, args.n, args.seed,
                                                  args.pretrain_steps)
    finally:
        evaluator.close()
    print(evaluate.format_table({**{f"iteration {row['iteration']}": row for row in rows}, **references}))
    out = pathlib.Path(args.out)
    print(f"wrote {out.with_suffix('.csv')}, {out.with_suffix('.png')} and {out.with_suffix('.json')}")


def run_train_classifier(args):
    from ezgan.lab import evaluate
    info = evaluate.train_classifier(args.out, args.epochs, args.batch_size, args.learning_rate, args.seed)
    print(f"test accuracy {info['test_accuracy']:.2%}; wrote {pathlib.Path(args.out) / evaluate.CLASSIFIER_CHECKPOINT} "
          f"and {evaluate.CLASSIFIER_INFO}")


RUN = {"train": run_train, "sample": run_sample, "export": run_export, "evaluate": run_evaluate,
       "curve": run_curve, "train-classifier": run_train_classifier}
