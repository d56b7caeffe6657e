"""Tutorial step 6: training. The discriminator is pre-trained alone, then D and G take turns.

Every input of step ``s`` (the real batch and both noise batches) is a pure function of
(seed, s), so a run killed after a checkpoint and resumed with ``--resume`` continues exactly as it
would have gone on: same step count, same data order, same noise.

Two loops compute the same iteration:

* ``literal_iteration``: the tutorial's loop, two ``sess.run`` calls fed from numpy (D real and
  D fake together, then G with fresh noise);
* ``fast_iteration`` (the default): the same updates as one op, ``train_step``, in one call,
  computed with less work (the same function, rounded differently: see
  ``ezgan.graph._fast_train_ops``). ``tests/test_train.py`` shows the two give the same
  variables to float32 rounding.
"""
import dataclasses
import json
import os
import pathlib
import re
import time

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan import hparams
from ezgan.graph import build_graph, session_config
from ezgan.mnist import read_data_sets
from ezgan.sample import check_variables, generate, resolve_checkpoint, save_grid

v1 = tf.compat.v1
TRAIN_CHECKPOINT = "train.ckpt"   # every variable, optimizer state included: for --resume
MODEL_CHECKPOINT = "model.ckpt"   # model variables only: for sampling and for pretrained/
RUN_STATE = "run.json"            # seed, schedule, logdir, wall time: what --resume needs besides variables
FIXED_NOISE_COUNT = 100           # the fixed-noise grid saved at every checkpoint (10 x 10)


def step_noise(seed, step, batch_size, z_dim):
    """The three noise batches of step ``step``: for the D step, the G step and the summary."""
    rng = np.random.default_rng([seed, step])
    return rng.normal(0, 1, size=(3, batch_size, z_dim)).astype(np.float32)


def fixed_noise(seed, z_dim):
    """The noise behind the fixed-noise grids: the same for every checkpoint of a run."""
    return np.random.default_rng([seed, 2**32 - 1]).normal(0, 1, (FIXED_NOISE_COUNT, z_dim)).astype(np.float32)


def real_batch(data, batch_size):
    return data.next_batch(batch_size)[0].reshape([batch_size, 28, 28, 1])


def pretrain_step(sess, g, real, z_d, literal=False):
    """One discriminator-only step on a real batch and a fake batch; returns (d_loss_real, d_loss_fake)."""
    feed = {g.x: real, g.z: z_d}
    if literal:
        _, _, loss_real, loss_fake = sess.run([g.d_trainer_real, g.d_trainer_fake, g.d_loss_real, g.d_loss_fake],
                                              feed)
        sess.run(g.increment_step)
        return loss_real, loss_fake
    return sess.run([g.d_step, *g.d_step_losses], feed)[1:]


def literal_iteration(sess, g, real, z_d, z_g):
    """The tutorial's iteration: D on real and fake in one call, then G on fresh noise in another."""
    sess.run([g.d_trainer_real, g.d_trainer_fake, g.d_loss_real, g.d_loss_fake], {g.x: real, g.z: z_d})
    sess.run(g.g_trainer, {g.z: z_g})
    sess.run(g.increment_step)


def fast_iteration(sess, g, real, z_d, z_g, **run_options):
    """The same iteration as one op: the order lives in the graph's control dependencies.

    ``run_options`` go to ``sess.run`` (``options`` and ``run_metadata``: ``make bench`` traces it).
    """
    sess.run(g.train_step, {g.x: real, g.z: z_d, g.z_g: z_g}, **run_options)


@dataclasses.dataclass
class RunState:
    """What a run needs to be resumed besides its variables; saved next to every checkpoint."""
    seed: int
    pretrain_steps: int
    iterations: int
    logdir: str
    elapsed_seconds: float = 0.0
    step: int = 0

    def save(self, directory):
        path = pathlib.Path(directory) / RUN_STATE
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        os.replace(partial, path)

    @classmethod
    def load(cls, directory):
        path = pathlib.Path(directory) / RUN_STATE
        if not path.exists():
            raise FileNotFoundError(f"{path}: no run to resume here (start one without --resume)")
        return cls(**json.loads(path.read_text()))


def new_logdir(root="tensorboard"):
    """The tutorial's TensorBoard layout: one folder per run, named by its start time."""
    return str(pathlib.Path(root) / time.strftime("%Y%m%d-%H%M%S"))


def save_checkpoint(sess, g, savers, checkpoint_dir, state, milestone=False):
    """Everything (for --resume), the model alone (for sampling), the run state, a fixed-noise grid.

    A milestone also keeps a model-only checkpoint for good, under ``milestones/`` (the quality
    curve of a long run is measured on these). Every file is numbered by the global step:
    pre-training steps plus main-loop iterations.
    """
    step = int(sess.run(g.global_step))
    state.step = step
    train_saver, model_saver, milestone_saver = savers
    # Saver writes under temporary names and updates its `checkpoint` index file last, atomically.
    train_saver.save(sess, os.path.join(checkpoint_dir, TRAIN_CHECKPOINT), global_step=step)
    model_saver.save(sess, os.path.join(checkpoint_dir, MODEL_CHECKPOINT), global_step=step,
                     latest_filename="model_checkpoint", write_meta_graph=False)
    if milestone:
        milestone_saver.save(sess, os.path.join(checkpoint_dir, "milestones", MODEL_CHECKPOINT),
                             global_step=step, write_meta_graph=False)
    state.save(checkpoint_dir)
    save_grid(generate(sess, g, fixed_noise(state.seed, g.z_dim)),
              os.path.join(checkpoint_dir, "grids", f"step{step:07d}.png"), columns=10)


def restore_or_initialize(sess, g, saver, checkpoint_dir=None):
    """Fresh variables, or every variable of the latest checkpoint in ``checkpoint_dir``; returns the step."""
    if checkpoint_dir is None:
        sess.run(g.init)
    else:
        latest = v1.train.latest_checkpoint(checkpoint_dir)
        if latest is None:
            raise FileNotFoundError(f"{checkpoint_dir}: run.json is there but no checkpoint to resume from")
        saver.restore(sess, latest)
    return int(sess.run(g.global_step))


def train(iterations=hparams.ITERATIONS, pretrain_steps=hparams.PRETRAIN_STEPS, seed=0, logdir=None,
          checkpoint_dir="checkpoints", checkpoint_every=1000, resume=False, literal=False,
          summary_every=hparams.SUMMARY_EVERY, data=None, callback=None, callback_every=0,
          progress=True, keep_checkpoints=3, milestone_every=5000):
    """Train the tutorial's GAN; returns a list of logged rows (one per summary) for plotting.

    Checkpoints go to ``checkpoint_dir`` every ``checkpoint_every`` iterations (the last
    ``keep_checkpoints`` are kept), and for good every ``milestone_every`` iterations.
    ``callback(sess, g, iteration)`` is called every ``callback_every`` iterations (the notebook
    uses it to show a digit). ``literal=True`` runs the tutorial's two-call loop instead of
    ``train_step``. ``checkpoint_dir=None`` writes no checkpoint, ``logdir=None`` no TensorBoard.
    """
    for name, value in [("iterations", iterations), ("pretrain_steps", pretrain_steps),
                        ("checkpoint_every", checkpoint_every), ("summary_every", summary_every)]:
        if value < 0 or (value == 0 and name in ("checkpoint_every", "summary_every")):
            raise ValueError(f"{name} must be {'positive' if name.endswith('every') else '>= 0'}, got {value}")
    if resume:
        state = RunState.load(checkpoint_dir)
        if (state.pretrain_steps, state.seed) != (pretrain_steps, seed):
            print(f"resuming with the run's own seed {state.seed} and {state.pretrain_steps} pre-training steps")
        state.iterations = iterations
    else:
        state = RunState(seed=seed, pretrain_steps=pretrain_steps, iterations=iterations,
                         logdir=logdir or "")
    data = data or read_data_sets(seed=state.seed).train
    g = build_graph(seed=state.seed)
    iterate = literal_iteration if literal else fast_iteration
    history = []
    with g.graph.as_default():
        # Relative paths in the `checkpoint` index files: a run folder can be moved or copied whole.
        savers = (v1.train.Saver(max_to_keep=keep_checkpoints, save_relative_paths=True),
                  v1.train.Saver(var_list=g.model_variables, max_to_keep=keep_checkpoints, save_relative_paths=True),
                  v1.train.Saver(var_list=g.model_variables, max_to_keep=None, save_relative_paths=True))
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        step = restore_or_initialize(sess, g, savers[0], checkpoint_dir if resume else None)
        data.seek(step * g.batch_size)
        writer = None
        if state.logdir:
            writer = v1.summary.FileWriter(state.logdir, g.graph if step == 0 else None)
            # Drop events a killed run logged after its last checkpoint: TensorBoard purges later steps.
            writer.add_session_log(tf.compat.v1.SessionLog(status=tf.compat.v1.SessionLog.START),
                                   max(0, step - state.pretrain_steps))
        started = time.perf_counter() - state.elapsed_seconds

        def checkpoint(milestone=False):
            if checkpoint_dir:
                state.elapsed_seconds = time.perf_counter() - started
                save_checkpoint(sess, g, savers, checkpoint_dir, state, milestone)

        total = state.pretrain_steps + iterations
        with tqdm(total=total, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
                  mininterval=1.0) as bar:
            bar.set_description("pre-training D")
            while step < state.pretrain_steps:
                z_d = step_noise(state.seed, step, g.batch_size, g.z_dim)[0]
                loss_real, loss_fake = pretrain_step(sess, g, real_batch(data, g.batch_size), z_d, literal)
                step += 1
                bar.update()
                bar.set_postfix(d_real=f"{loss_real:.3f}", d_fake=f"{loss_fake:.3f}")
                if step == state.pretrain_steps:
                    checkpoint()
            bar.set_description("training")
            while step < total:
                i = step - state.pretrain_steps
                z_d, z_g, z_summary = step_noise(state.seed, step, g.batch_size, g.z_dim)
                real = real_batch(data, g.batch_size)
                iterate(sess, g, real, z_d, z_g)
                step += 1
                bar.update()
                if i % summary_every == 0:
                    row = log_summary(sess, g, writer, real, z_summary, i)
                    history.append(row)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "iteration"})
                if callback is not None and callback_every and i % callback_every == 0:
                    callback(sess, g, i)
                milestone = (i + 1) % milestone_every == 0
                if (i + 1) % checkpoint_every == 0 or milestone or step == total:
                    checkpoint(milestone)
                    bar.write(format_row(history[-1], total - state.pretrain_steps) if history else "")
        if writer is not None:
            writer.close()
    return history


def log_summary(sess, g, writer, real, z, iteration):
    """The tutorial's summary run (fresh noise, after the step): TensorBoard and one row of history."""
    summary, d_real, d_fake, g_loss, d_x, d_g_z = sess.run(
        [g.merged, g.d_loss_real, g.d_loss_fake, g.g_loss, g.D_x, g.D_G_z], {g.x: real, g.z: z})
    if writer is not None:
        writer.add_summary(summary, iteration)
    return dict(iteration=iteration, d_loss_real=float(d_real), d_loss_fake=float(d_fake), g_loss=float(g_loss),
                D_x=float(d_x), D_G_z=float(d_g_z))


def format_row(row, iterations):
    return (f"[{row['iteration']:>6}/{iterations}] loss_D_real {row['d_loss_real']:.4f} "
            f"loss_D_fake {row['d_loss_fake']:.4f} loss_G {row['g_loss']:.4f} "
            f"D(x) {row['D_x']:.4f} D(G(z)) {row['D_G_z']:.4f}")


def export_model(checkpoint, out_dir):
    """Copy the model variables (no optimizer state) of ``checkpoint`` to ``out_dir``, keeping its step.

    This is how a run's checkpoint becomes ``pretrained/``: the original's layout, nothing else,
    and the run's ``run.json`` beside it so the step, seed and schedule travel with it.
    """
    prefix = resolve_checkpoint(checkpoint)
    step = int(re.search(r"-(\d+)$", prefix).group(1))
    g = build_graph()
    with g.graph.as_default():
        check_variables(prefix, g.model_variables)
        saver = v1.train.Saver(var_list=g.model_variables, save_relative_paths=True)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        saver.restore(sess, prefix)
        for old in out_dir.glob(f"{MODEL_CHECKPOINT}-*"):
            old.unlink()
        saved = saver.save(sess, str(out_dir / MODEL_CHECKPOINT), global_step=step, write_meta_graph=False)
    run_state = pathlib.Path(prefix).parent / RUN_STATE
    if not run_state.exists():
        run_state = pathlib.Path(prefix).parent.parent / RUN_STATE  # a milestone: run.json is one level up
    if run_state.exists():
        state = json.loads(run_state.read_text())
        state.update(step=step, iterations=step - state["pretrain_steps"])
        state.pop("logdir")
        (out_dir / RUN_STATE).write_text(json.dumps(state, indent=1))
    return saved
