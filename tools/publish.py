"""Publish a training run: what ``pretrained/`` and ``tensorboard/tutorial-run/`` ship.

    python tools/publish.py [--run DIR] [--n 10000] [--seed 0] [--skip-curve]     (or: make publish)

From the run folder (a training run's ``--checkpoint-dir``, only read: the run may still be
training), in order, each step a function that the tests can run on a tiny run:

1. ``export_latest``: the run's latest model checkpoint -> ``pretrained/``, model variables only,
   with its run.json (``ezgan.lab.checkpoints.export_model``, what ``ezgan export`` runs);
2. ``write_samples``: the run's fixed-noise grid, drawn by that checkpoint -> ``pretrained/samples.png``;
3. ``animation.training_gif``: the run's fixed-noise grids across training, labelled by iteration ->
   ``pretrained/training.gif``;
4. ``events.thin_events`` + ``events.write_events``: the run's TensorBoard events ->
   ``tensorboard/tutorial-run/``, every scalar, the graph, the images every ``IMAGE_EVERY``
   iterations, orphaned steps purged;
5. ``evaluate_checkpoint`` (what ``ezgan evaluate --references`` measures) and, without
   ``--skip-curve``, ``ezgan.lab.evaluate.quality_curve`` (what ``ezgan curve`` measures) ->
   ``pretrained/evaluation.json``, ``pretrained/quality_curve.{csv,png,json}``;
6. ``model_card.write_model_card``: ``pretrained/MODEL_CARD.md`` from ``templates/MODEL_CARD.md.j2``,
   every number read from the files above and from ``pretrained/publish.json`` (the facts of the
   publication: machine, run, GIF, events).
"""
import argparse
import datetime
import pathlib
import platform
import sys
import time

if not __package__:
    # Run as a script (make publish): the checkout's root first on the path, so that the modules beside this
    # one import as the package tools.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from ezgan.tfsetup import tensorflow  # noqa: E402

tf = tensorflow()

from ezgan.errors import EzganError  # noqa: E402
from ezgan.lab import evaluate  # noqa: E402
from ezgan.lab.checkpoints import export_model, open_sampler  # noqa: E402
from ezgan.paths import REPO, pretrained_dir  # noqa: E402
from ezgan.runs.checkpoints import GRIDS, checkpoint_step, resolve_checkpoint  # noqa: E402
from ezgan.runs.outputs import save_png, write_json  # noqa: E402
from ezgan.runs.state import MILESTONES, RUN_STATE, RunState  # noqa: E402
from ezgan.runs.training import fixed_noise  # noqa: E402
from ezgan.grids import grid_image  # noqa: E402
from tools import animation, events, model_card  # noqa: E402

DEFAULT_RUN = model_card.TUTORIAL_MODEL.run   # `make train`'s run (the Makefile's RUN_DIR)
TENSORBOARD_COPY = REPO / model_card.TUTORIAL_MODEL.tensorboard


class PublishError(EzganError):
    """The run cannot be published as it is (no run state, or none matching its checkpoint); the message says why."""


def shown_path(path):
    """``path`` as published files should show it: relative to the repository, else ``~/...``, else absolute."""
    path = pathlib.Path(path).expanduser().absolute()
    for root, prefix in ((REPO, ""), (pathlib.Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


# 1. Export ---------------------------------------------------------------------------------------

def latest_checkpoint_and_state(run_dir, attempts=20, wait=0.5):
    """(prefix, ``RunState``) of the run's latest model checkpoint, the run.json written with it.

    A training run saves its checkpoints first and run.json last: while it is between the two the
    step numbers differ, so this waits for them to agree (then the wall time in run.json is the
    checkpoint's own).
    """
    run_dir = pathlib.Path(run_dir).expanduser()
    if not (run_dir / RUN_STATE).exists():
        raise PublishError(f"{run_dir}: no {RUN_STATE} here; is this a training run's --checkpoint-dir?")
    for _ in range(attempts):
        prefix = resolve_checkpoint(run_dir)
        state = RunState.read(run_dir)
        if state.step == checkpoint_step(prefix):
            return prefix, state
        time.sleep(wait)
    raise PublishError(f"{run_dir}: {RUN_STATE} (step {state.step}) does not match the latest checkpoint {prefix}")


def export_latest(run_dir, out_dir):
    """Export the run's latest model checkpoint to ``out_dir``, replacing the model there.

    Returns (the run's checkpoint, the exported prefix, the run's state). ``export_model`` writes
    ``out_dir/run.json`` from the run's run.json as it finds it: should the run have saved a newer
    checkpoint in between, its wall time is set back to the exported checkpoint's.
    """
    source, state = latest_checkpoint_and_state(run_dir)
    exported = export_model(source, out_dir, overwrite=True)   # publishing replaces the bundled model on purpose
    written = RunState.read(out_dir)
    written.elapsed_seconds = state.elapsed_seconds
    written.save(out_dir)
    return source, exported, state


# 2. Samples --------------------------------------------------------------------------------------

def write_samples(sampler, seed, out):
    """The run's fixed-noise grid (10 x 10, the noise of every grid in its grids/) from ``sampler``'s checkpoint."""
    save_png(grid_image(sampler.generate(fixed_noise(seed, sampler.z_dim)), columns=10), out)


# 5. Evaluation (3 and 4: animation.py, events.py) ----------------------------------------------

def evaluate_checkpoint(sampler, evaluator, n, seed, name):
    """The evaluator's rows for ``sampler``'s checkpoint (named ``name``) and the reference rows.

    Returns (the record ``ezgan evaluate --references --json`` writes, the reference rows).
    ``sampler.sample(n, seed)`` is ``ezgan.lab.checkpoints.sample(n, seed, checkpoint)``: the same digits.
    """
    rows = {name: evaluator.evaluate(sampler.sample(n, seed), evaluate.asked_digits(sampler.checkpoint, n))}
    references = evaluator.reference_rows(n, seed)
    rows.update(references)
    classifier = evaluator.classifier
    record = dict(checkpoint=name, n=n, seed=seed, classifier=shown_path(classifier.checkpoint),
                  classifier_test_accuracy=classifier.info.get("test_accuracy"), rows=rows)
    return record, references


# The whole publication -------------------------------------------------------------------------

def publish(run_dir=DEFAULT_RUN, out_dir=None, tensorboard_out=TENSORBOARD_COPY, n=10_000, seed=0,
            curve=True, classifier=None, image_every=events.IMAGE_EVERY, log=print):
    """Every step above, in order; ``log`` gets a line per step (with its time).

    ``out_dir`` defaults to ``pretrained/``, ``classifier`` (the evaluator's checkpoint) to
    ``pretrained/classifier``.
    """
    run_dir = pathlib.Path(run_dir).expanduser()
    out_dir = pathlib.Path(pretrained_dir() if out_dir is None else out_dir)
    clock = time.perf_counter()

    def done(what):
        nonlocal clock
        now = time.perf_counter()
        log(f"[{now - clock:6.1f} s] {what}")
        clock = now

    source, exported, state = export_latest(run_dir, out_dir)
    step = checkpoint_step(exported)
    iteration = step - state.pretrain_steps
    done(f"exported {shown_path(source)} -> {shown_path(exported)} (iteration {iteration:,})")

    sampler = open_sampler(out_dir)
    try:
        write_samples(sampler, state.seed, out_dir / "samples.png")
        done(f"wrote {shown_path(out_dir / 'samples.png')}")

        gif = animation.training_gif(run_dir / GRIDS, out_dir / "training.gif", state.pretrain_steps,
                                     until_step=step)
        done(f"wrote {shown_path(out_dir / 'training.gif')}: {gif['frames']} frames of {gif['grids']}, "
             f"{gif['width']}x{gif['height']}, {gif['bytes']:,} bytes")

        thinned, stats = events.thin_events(events.event_files(run_dir / "tensorboard"), image_every, until=iteration)
        size = events.write_events(thinned, tensorboard_out)
        for problem in stats["truncated"]:
            log(f"  note: {problem} (a run still writing: the record is left out)")
        done(f"wrote {shown_path(tensorboard_out)}: {size:,} bytes ({size / 2**20:.2f} MiB); "
             f"{stats['summary_events']:,} summaries (iterations {stats['first_step']}..{stats['last_step']}), "
             f"images at {stats['image_steps']} steps, {stats['purged']} orphaned summaries purged, "
             f"{stats['sessions']} session(s)")

        evaluator = evaluate.Evaluator(classifier)
        try:
            record, references = evaluate_checkpoint(sampler, evaluator, n, seed, shown_path(exported))
            write_json(out_dir / "evaluation.json", record)
            log(evaluate.format_table(record["rows"]))
            done(f"wrote {shown_path(out_dir / 'evaluation.json')}")
            if curve:
                milestones = run_dir / MILESTONES
                rows, _ = evaluate.quality_curve(milestones, out_dir / "quality_curve", evaluator, n, seed,
                                                 references=references, name=shown_path(milestones))
                log(evaluate.format_table({f"iteration {row['iteration']:,}": row for row in rows}))
                done(f"wrote {shown_path(out_dir / 'quality_curve')}.{{csv,png,json}}: {len(rows)} milestone(s)")
        finally:
            evaluator.close()
    finally:
        sampler.close()

    info = dict(
        run=shown_path(run_dir), checkpoint=shown_path(source), out=shown_path(out_dir),
        target_iterations=state.iterations, machine=model_card.machine(), tensorflow=tf.__version__,
        python=platform.python_version(),
        published=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        gif=gif,
        tensorboard=dict(path=shown_path(tensorboard_out), bytes=size, image_every=image_every,
                         **{key: value for key, value in stats.items() if key != "truncated"}))
    write_json(out_dir / model_card.PUBLISH_INFO, info)
    card = model_card.write_model_card(out_dir)
    done(f"wrote {shown_path(out_dir / model_card.PUBLISH_INFO)} and {shown_path(card)}")
    return info


# The command line --------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help=f"the training run's folder (default {DEFAULT_RUN})")
    parser.add_argument("--n", type=int, default=10_000, help="digits per evaluated row (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the evaluation (default 0)")
    parser.add_argument("--skip-curve", action="store_true",
                        help="do not measure the milestones (the quality curve): saves most of the time")
    parser.add_argument("--out", default=None,
                        help="where the checkpoint and its files go (default: pretrained/ of the checkout)")
    parser.add_argument("--tensorboard", default=str(TENSORBOARD_COPY),
                        help="folder for the TensorBoard copy (replaced)")
    parser.add_argument("--image-every", type=int, default=events.IMAGE_EVERY,
                        help=f"keep image summaries every this many iterations (default {events.IMAGE_EVERY})")
    parser.add_argument("--card-only", action="store_true",
                        help="only render MODEL_CARD.md again from the files already in --out (after a change of "
                             "the card's template or of the commands it names); no run needed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        if args.card_only:
            print(f"wrote {model_card.write_model_card(pathlib.Path(args.out) if args.out else pretrained_dir())}")
            return
        publish(args.run, args.out, args.tensorboard, n=args.n, seed=args.seed, curve=not args.skip_curve,
                image_every=args.image_every)
    except EzganError as error:
        sys.exit(f"error: {error}")
    print(f"published in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
