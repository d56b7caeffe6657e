"""The command line: ``ezgan {train,sample,export,evaluate,curve,train-classifier} --help``.

Mistakes of the user's (``ezgan.errors.EzganError``: a missing file, a damaged checkpoint, a bad
path) print one line and exit with status 2, as argparse does for bad flags; anything else is a
bug and prints its traceback. SIGINT (Ctrl-C) and SIGTERM stop a command with one line and exit
status 128 + the signal's number (130, 143): the files it was writing are removed on the way out,
and ``ezgan train`` says where its last checkpoint is and the command that goes on from it.
"""
import argparse
import dataclasses
import pathlib
import shlex
import signal
import sys

from ezgan import hparams
from ezgan.errors import EzganError

USAGE_ERROR = 2   # argparse's exit status for a bad command line; ours for every user mistake
PROGRESS_DIGITS = 20_000   # ezgan sample --out x.npy shows a progress bar from this many digits (a few seconds' work)
# The options of ezgan train that run.json does not keep: the command that resumes a run repeats them.
RESUME_OPTIONS = ("iterations", "checkpoint_every", "summary_every", "milestone_every", "keep", "threads", "literal")


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the command is, so that its cleanup runs; the message is its one line,
    ``outcome`` what the user finds after it."""

    def __init__(self, signum, outcome="nothing half-written is left"):
        super().__init__(f"stopped by {signal.Signals(signum).name}; {outcome}")
        self.signum = signum


def raise_stopped(signum, frame):
    """While a command runs, SIGINT and SIGTERM raise ``Stopped``: SIGTERM would otherwise end the process at
    once, leaving temporary files, and SIGINT's KeyboardInterrupt print a traceback."""
    raise Stopped(signum)


def counted(number, noun):
    """"1 digit", "1,000 digits"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


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


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that appends each option's default to its help, except where the help already
    says what the default is (a default of None means something the help spells out)."""

    def _get_help_string(self, action):
        if "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(commands, name, help):
    return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                               formatter_class=DefaultsHelpFormatter)


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
    p.add_argument("--keep", type=positive_int, default=3,
                   help="checkpoints kept, the latest (milestones are kept apart, for good)")
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
    p.set_defaults(recipe_flags=add_recipe_options(p.add_argument_group(
        "recipes beyond the tutorial (ezgan.lab.recipes)", "Each left out is the tutorial's (or --recipe's); "
        "--resume keeps the run's own recipe (and names the switches given that it ignores).")))


def add_recipe_options(group):
    """Add the recipe switches to ``group``; returns {dest: flag} of each (what --resume names when it ignores one)."""
    from ezgan.tfsetup import tensorflow

    tensorflow()   # quietly, before the recipes' table of networks imports it
    from ezgan.lab.networks import DISCRIMINATORS, GENERATORS
    from ezgan.lab.recipes import RECIPES
    flags = {}

    def add(*names, **options):
        # SUPPRESS: a switch not given stays out of args (and --help shows the tutorial's value in words).
        flags[group.add_argument(*names, default=argparse.SUPPRESS, **options).dest] = names[0]

    add("--recipe", metavar="NAME", choices=list(RECIPES),
        help=f"a named recipe of ezgan.lab.recipes.RECIPES ({', '.join(RECIPES)}); the switches below change it")
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
    add("--discriminator", choices=list(DISCRIMINATORS),
        help="; ".join(f"{name}: {words}" for name, (_, words) in DISCRIMINATORS.items()))
    add("--generator", choices=list(GENERATORS),
        help="; ".join(f"{name}: {words}" for name, (_, words) in GENERATORS.items()))
    add("--ema", type=float, metavar="DECAY", dest="ema_decay",
        help="sample from a moving average of G's weights with this decay, e.g. 0.999 (tutorial: 0, off)")
    add("--d-learning-rate", type=float, help=f"Adam's rate for D (tutorial: {hparams.D_LEARNING_RATE:g})")
    add("--g-learning-rate", type=float, help=f"Adam's rate for G (tutorial: {hparams.G_LEARNING_RATE:g})")
    return flags


def train_recipe(args):
    """The recipe of ``ezgan train``'s flags; None for the tutorial's own (its run.json then has no recipe)."""
    import dataclasses

    from ezgan.lab.recipes import TUTORIAL, Recipe
    # Every Recipe field is a switch of the same name (dest); one not given is absent from args.
    recipe = Recipe.from_switches(getattr(args, "recipe", None),
                                  **{field.name: getattr(args, field.name, None) for field in dataclasses.fields(Recipe)})
    return None if recipe == TUTORIAL else recipe


def ignored_on_resume(args, own):
    """The recipe switches given with --resume that contradict the run's own recipe ``own`` (which it keeps)."""
    from ezgan.lab.recipes import Recipe
    given = {dest: getattr(args, dest) for dest in args.recipe_flags if hasattr(args, dest)}
    switches = {dest: value for dest, value in given.items() if dest != "recipe"}
    ignored = [dest for dest, value in switches.items() if getattr(own, dest) != value]
    if "recipe" in given and (dataclasses.replace(Recipe.from_switches(given["recipe"]), **switches)
                              != dataclasses.replace(own, **switches)):
        ignored.insert(0, "recipe")
    flag = args.recipe_flags
    return [flag[dest] if isinstance(given[dest], bool) else f"{flag[dest]} {given[dest]}" for dest in ignored]


def resume_command(args):
    """The command that goes on with the run of ``ezgan train ARGS``: --resume and the options run.json does not
    keep (``RESUME_OPTIONS``) where they are not the defaults."""
    defaults = parser().parse_args(["train"])
    words = ["ezgan", "train", "--resume", "--checkpoint-dir", args.checkpoint_dir]
    for dest in RESUME_OPTIONS:
        value = getattr(args, dest)
        if value != getattr(defaults, dest):
            flag = "--" + dest.replace("_", "-")
            words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


def where_to_resume(args):
    """Where a stopped run's last checkpoint is and how to go on from it, as the end of one line."""
    from ezgan.runs.state import RUN_STATE, RunState
    if not (pathlib.Path(args.checkpoint_dir) / RUN_STATE).exists():
        return "it had written no checkpoint: start it again"
    return (f"the last checkpoint is step {RunState.load(args.checkpoint_dir).step} in {args.checkpoint_dir}; "
            f"go on with: {resume_command(args)}")


def add_sample(commands):
    p = _command(commands, "sample", "write digits from a checkpoint as a PNG grid or a .npy array")
    p.add_argument("--checkpoint", action="append", default=None,
                   help="checkpoint directory or prefix (default: pretrained/); give it again for grids side by side "
                        "in one PNG, each labelled with its checkpoint and recipe")
    p.add_argument("--n", type=positive_int, default=64, help="how many digits (at most a million)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the noise")
    p.add_argument("--out", default="samples.png", help="output: .png for a picture, .npy for the array")
    p.add_argument("--digit", type=digit_choice, default=None, metavar="{0..9,all}",
                   help="a conditional model's digit to draw; all (its default): each in turn, image i a digit i %% 10, "
                        "a PNG one column per digit")


def digit_choice(text):
    if text == "all":
        return text
    if text.isdigit() and int(text) <= 9:
        return int(text)
    raise argparse.ArgumentTypeError(f"must be a digit 0-9 or all, got {text}")


def add_export(commands):
    from ezgan.paths import EXPORTED
    p = _command(commands, "export", "copy a checkpoint's model variables (no optimizer state) to a folder "
                                     "of its own")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory or numbered prefix to copy from")
    p.add_argument("--out", default=None,
                   help=f"folder to write the model checkpoint and its run.json to (default: {EXPORTED}/RUN-stepSTEP "
                        f"in the current folder, RUN the name of the checkpoint's run folder); never a training "
                        f"run's folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model already in --out (the checkout's pretrained/ folders too, as make "
                        "publish does); without it such a folder is refused")


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
    p.add_argument("--out", default="quality_curve",
                   help="writes OUT.csv, OUT.png and OUT.json (each suffix added to OUT as given)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.csv, OUT.png and OUT.json if they exist")
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
    from ezgan.runs.outputs import stop_signals_handled_by
    args = parser().parse_args(argv)
    with stop_signals_handled_by(raise_stopped):
        try:
            from ezgan.tfsetup import tensorflow

            tensorflow()
            RUN[args.command](args)
        except EzganError as error:
            print(f"ezgan {args.command}: error: {error}", file=sys.stderr)
            sys.exit(USAGE_ERROR)
        except Stopped as stop:
            print(f"ezgan {args.command}: {stop}", file=sys.stderr)
            sys.exit(128 + stop.signum)


def run_train(args):
    from ezgan.lab.recipes import TUTORIAL, recipe_name, run_recipe
    from ezgan.lab.training import train
    from ezgan.runs.outputs import check_folder
    from ezgan.runs.state import RunState
    from ezgan.runs.training import format_row
    from ezgan.train import new_logdir
    recipe = train_recipe(args) or TUTORIAL
    pretrain_steps = getattr(args, "pretrain_steps", recipe.pretrain_steps)
    if args.dry_run:
        history = train(recipe, args.literal, iterations=2, pretrain_steps=min(pretrain_steps, 2), seed=args.seed,
                        logdir=None, checkpoint_dir=None, summary_every=1, progress=False, threads=args.threads)
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
    if args.resume and pathlib.Path(args.checkpoint_dir).is_dir():
        own = run_recipe(RunState.load(args.checkpoint_dir))
        ignored = ignored_on_resume(args, own)
        if ignored:
            print(f"resuming with the run's own recipe ({recipe_name(own) or own.describe()}); "
                  f"ignored: {', '.join(ignored)}")
    try:
        train(recipe, args.literal, iterations=args.iterations, pretrain_steps=pretrain_steps, seed=args.seed,
              logdir=logdir, checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
              resume=args.resume, summary_every=args.summary_every, milestone_every=args.milestone_every,
              threads=args.threads, overwrite=args.overwrite, keep_checkpoints=args.keep)
    except Stopped as stop:
        raise Stopped(stop.signum, where_to_resume(args)) from None


def run_sample(args):
    from ezgan.lab.checkpoints import checkpoint_label, is_conditional, sample, save_npy
    from ezgan.lab.pictures import save_labelled_grids
    from ezgan.runs.outputs import check_output, save_png
    from ezgan.grids import grid_image
    from ezgan.sample import MAX_DIGITS
    if args.n > MAX_DIGITS:
        raise EzganError(f"--n {args.n}: at most {MAX_DIGITS:,} digits at once (their pixels alone take "
                         f"{MAX_DIGITS * 28 * 28 * 4 / 1e9:.1f} GB)")
    out = pathlib.Path(args.out)
    if out.suffix not in (".png", ".npy"):
        raise EzganError(f"{out}: --out must end in .png or .npy")
    checkpoints = args.checkpoint or [None]
    if len(checkpoints) > 1 and out.suffix != ".png":
        raise EzganError(f"{out}: several --checkpoint need a .png --out (grids side by side)")
    if len(checkpoints) > 1 and args.digit is not None:
        raise EzganError("--digit goes with one --checkpoint")
    check_output(out, "--out")   # before the checkpoint is loaded
    if len(checkpoints) > 1:
        # With a conditional model among them, every grid a table of ten columns: its digits 0-9 in columns.
        columns = 10 if any(is_conditional(checkpoint) for checkpoint in checkpoints) else None
        save_labelled_grids([(checkpoint_label(checkpoint), sample(args.n, args.seed, checkpoint))
                             for checkpoint in checkpoints], out, columns)
        print(f"wrote {len(checkpoints)} grids of {counted(args.n, 'digit')} to {out}")
        return
    if out.suffix == ".npy":   # streamed: memory holds a chunk, not the array
        save_npy(args.n, args.seed, checkpoints[0], out, progress=args.n >= PROGRESS_DIGITS, digit=args.digit)
    else:
        columns = 10 if args.digit in (None, "all") and is_conditional(checkpoints[0]) else None   # a column a digit
        save_png(grid_image(sample(args.n, args.seed, checkpoints[0], digit=args.digit), columns), out)
    print(f"wrote {counted(args.n, 'digit')} to {out}")


def run_export(args):
    from ezgan.lab.checkpoints import export_model
    print(f"wrote {export_model(args.checkpoint, args.out, args.overwrite)}")


def run_evaluate(args):
    from ezgan.lab import evaluate
    from ezgan.paths import pretrained_dir
    from ezgan.runs.checkpoints import resolve_checkpoint
    from ezgan.runs.outputs import check_output, write_json
    if args.json:
        check_output(args.json, "--json")   # before minutes of evaluation
    prefix = resolve_checkpoint(args.checkpoint or pretrained_dir())
    rows, classifier = evaluate.evaluate_checkpoint(prefix, args.n, args.seed, args.classifier, args.references)
    print(evaluate.format_table(rows))
    if args.json:
        write_json(args.json, dict(checkpoint=prefix, n=args.n, seed=args.seed, classifier=classifier.checkpoint,
                                   classifier_test_accuracy=classifier.info.get("test_accuracy"), rows=rows))
        print(f"wrote {args.json}")


def run_curve(args):
    from ezgan.lab import evaluate
    from ezgan.runs.outputs import check_output
    files = evaluate.curve_files(args.out)
    for path in files:   # before every milestone is measured; an existing curve is replaced only when told to
        check_output(path, "--out", overwrite=args.overwrite)
    evaluator = evaluate.Evaluator(args.classifier)
    try:
        rows, references = evaluate.quality_curve(args.milestones, args.out, evaluator, args.n, args.seed,
                                                  args.pretrain_steps)
    finally:
        evaluator.close()
    print(evaluate.format_table({**{f"iteration {row['iteration']}": row for row in rows}, **references}))
    print(f"wrote {files[0]}, {files[1]} and {files[2]}")


def run_train_classifier(args):
    from ezgan.lab import evaluate
    from ezgan.runs.outputs import check_folder
    check_folder(args.out, f"--out {args.out}")   # before minutes of training
    info = evaluate.train_classifier(args.out, args.epochs, args.batch_size, args.learning_rate, args.seed)
    print(f"test accuracy {info['test_accuracy']:.2%}; wrote {pathlib.Path(args.out) / evaluate.CLASSIFIER_CHECKPOINT} "
          f"and {evaluate.CLASSIFIER_INFO}")


RUN = {"train": run_train, "sample": run_sample, "export": run_export, "evaluate": run_evaluate,
       "curve": run_curve, "train-classifier": run_train_classifier}
