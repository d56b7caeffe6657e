"""Tutorial step 6: training. The discriminator is pre-trained alone, then D and G take turns.

Every input of step ``s`` (the real batch and both noise batches) is a pure function of
(seed, s), so a run killed after a checkpoint and resumed with ``--resume`` continues exactly as it
would have gone on: same step count, same data order, same noise.

``literal_iteration`` is the tutorial's loop: two ``sess.run`` calls fed from numpy. ``train()``
runs the same iteration through ``ezgan.fast`` by default (one op per iteration, about 1.8x
faster, the same updates to float32 rounding); ``literal=True`` (``ezgan train --literal``) runs
the tutorial's loop itself. ``recipe`` (``ezgan.recipes``) trains beyond the tutorial.
"""
import pathlib
import time

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan import hparams
from ezgan.checkpoints import GRIDS, RunCheckpoints, RunState
from ezgan.graph import build_graph
from ezgan.mnist import read_data_sets
from ezgan.outputs import signals_held
from ezgan.recipes import Recipe, build_recipe_graph, guided_controller, uses_fast_step
from ezgan.runfiles import check_finite, check_finite_weights, open_run_folder
from ezgan.sample import generate, save_grid
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
FIXED_NOISE_COUNT = 100           # the fixed-noise grid saved at every checkpoint (10 x 10)
LOSSES = ("d_loss_real", "d_loss_fake", "g_loss")   # checked finite before every checkpoint


def step_noise(seed, step, batch_size, z_dim):
    """The three noise batches of step ``step``: for the D step, the G step and the summary."""
    rng = np.random.default_rng([seed, step])
    return rng.normal(0, 1, size=(3, batch_size, z_dim)).astype(np.float32)


def fixed_noise(seed, z_dim):
    """The noise behind the fixed-noise grids: the same for every checkpoint of a run."""
    return np.random.default_rng([seed, 2**32 - 1]).normal(0, 1, (FIXED_NOISE_COUNT, z_dim)).astype(np.float32)


def real_batch(data, batch_size):
    return data.next_batch(batch_size)[0].reshape([batch_size, 28, 28, 1])


def pretrain_step(sess, gan, real, z_d):
    """One discriminator-only step on a real batch and a fake batch; returns (d_loss_real, d_loss_fake)."""
    _, _, loss_real, loss_fake = sess.run([gan.d_trainer_real, gan.d_trainer_fake, gan.d_loss_real, gan.d_loss_fake],
                                          {gan.x: real, gan.z: z_d})
    sess.run(gan.increment_step)
    return loss_real, loss_fake


def literal_iteration(sess, gan, real, z_d, z_g):
    """The tutorial's iteration: D on real and fake in one call, then G on fresh noise in another."""
    sess.run([gan.d_trainer_real, gan.d_trainer_fake, gan.d_loss_real, gan.d_loss_fake], {gan.x: real, gan.z: z_d})
    sess.run(gan.g_trainer, {gan.z: z_g})
    sess.run(gan.increment_step)


def new_logdir(root="tensorboard"):
    """The tutorial's TensorBoard layout: one folder per run, named by its start time."""
    return str(pathlib.Path(root) / time.strftime("%Y%m%d-%H%M%S"))


def log_summary(sess, gan, writer, real, z, iteration):
    """The tutorial's summary run (fresh noise, after the step): TensorBoard and one row of history."""
    summary, d_real, d_fake, g_loss, d_x, d_g_z = sess.run(
        [gan.merged, gan.d_loss_real, gan.d_loss_fake, gan.g_loss, gan.mean_D_x, gan.mean_D_G_z],
        {gan.x: real, gan.z: z})
    if writer is not None:
        writer.add_summary(summary, iteration)
    return dict(iteration=iteration, d_loss_real=float(d_real), d_loss_fake=float(d_fake), g_loss=float(g_loss),
                D_x=float(d_x), D_G_z=float(d_g_z))


def format_row(row, iterations):
    return (f"[{row['iteration']:>6}/{iterations}] loss_D_real {row['d_loss_real']:.4f} "
            f"loss_D_fake {row['d_loss_fake']:.4f} loss_G {row['g_loss']:.4f} "
            f"D(x) {row['D_x']:.4f} D(G(z)) {row['D_G_z']:.4f}")


def _steps(gan, literal):
    """(pretrain(sess, real, z_d), iterate(sess, real, z_d, z_g)): the tutorial's, or ``ezgan.fast``'s."""
    if literal:
        return (lambda sess, real, z_d: pretrain_step(sess, gan, real, z_d),
                lambda sess, real, z_d, z_g: literal_iteration(sess, gan, real, z_d, z_g))
    from ezgan.fast import add_fast_step

    fast_step = add_fast_step(gan)
    return fast_step.pretrain_step, fast_step.iteration


def train(iterations=hparams.ITERATIONS, pretrain_steps=hparams.PRETRAIN_STEPS, seed=0, logdir=None,
          checkpoint_dir="checkpoints", checkpoint_every=1000, resume=False, literal=False,
          summary_every=hparams.SUMMARY_EVERY, data=None, callback=None, callback_every=0,
          progress=True, keep_checkpoints=3, milestone_every=5000, recipe=None, threads=0, overwrite=False,
          generator=None, discriminator=None):
    """Train the tutorial's GAN; returns a list of logged rows (one per summary) for plotting.

    Checkpoints go to ``checkpoint_dir`` every ``checkpoint_every`` iterations (the last
    ``keep_checkpoints`` are kept), and for good every ``milestone_every`` iterations, each with a
    grid of digits from the run's fixed noise. ``callback(sess, gan, iteration)`` is called every
    ``callback_every`` iterations (the notebook uses it to show a digit). ``literal=True`` runs the
    tutorial's two-call loop instead of the fast step. ``checkpoint_dir=None`` writes no
    checkpoint, ``logdir=None`` no TensorBoard. ``recipe``: an ``ezgan.recipes.Recipe`` (None: the
    tutorial's; --resume keeps the run's own). ``threads`` > 0: the size of TensorFlow's thread pools.
    The run folder is locked while training (``ezgan.runfiles``); a fresh run refuses a folder
    holding one unless ``overwrite``. A NaN or infinite loss raises ``TrainingDiverged``, unsaved.
    ``generator`` or ``discriminator``: your own network in place of the tutorial's (passed to
    ``build_graph``; notebook 2's exercise). It trains with the literal loop, as the fast step
    knows only the tutorial's networks, and it is not saved with the run: resume with it again.
    """
    for name, value in [("iterations", iterations), ("pretrain_steps", pretrain_steps),
                        ("checkpoint_every", checkpoint_every), ("summary_every", summary_every)]:
        if value < 0 or (value == 0 and name in ("checkpoint_every", "summary_every")):
            raise ValueError(f"{name} must be {'positive' if name.endswith('every') else '>= 0'}, got {value}")
    networks = {name: network for name, network in (("generator", generator), ("discriminator", discriminator))
                if network is not None}
    with open_run_folder(checkpoint_dir, resume, overwrite):   # locked for the whole run
        if resume:
            state = RunState.load(checkpoint_dir)
            if (state.pretrain_steps, state.seed) != (pretrain_steps, seed):
                print(f"resuming with the run's own seed {state.seed} and {state.pretrain_steps} pre-training steps")
            state.iterations = iterations
            if logdir and logdir != state.logdir:
                print(f"resuming: TensorBoard goes to the run's own folder {state.logdir!r}, not --logdir {logdir}")
            recipe = Recipe.from_dict(state.recipe) if state.recipe else None
        else:
            state = RunState(seed=seed, pretrain_steps=pretrain_steps, iterations=iterations, logdir=logdir or "",
                             recipe=recipe and recipe.to_dict())
        if state.step >= state.pretrain_steps + iterations:
            print(f"nothing left to do: the run is at step {state.step}, {iterations} iterations end at step "
                  f"{state.pretrain_steps + iterations}")
            return []
        data = data or read_data_sets(seed=state.seed).train
        gan = build_graph(seed=state.seed, **networks) if recipe is None else build_recipe_graph(recipe, state.seed)
        pretrain, iterate = _steps(gan, literal or bool(networks) or not uses_fast_step(recipe))
        guided = guided_controller(gan)   # None unless the recipe is guided
        checkpoints = RunCheckpoints(gan, checkpoint_dir, keep_checkpoints) if checkpoint_dir else None
        with gan.graph.as_default():   # checked before every checkpoint: a loss can hide a NaN weight
            weights_finite = [tf.reduce_all(tf.math.is_finite(var)) for var in gan.model_variables]
        weight_names = [var.op.name for var in gan.model_variables]
        history = []
        with v1.Session(graph=gan.graph, config=session_config(threads)) as sess:
            if resume:
                step = checkpoints.restore_latest(sess)
            else:
                sess.run(gan.init)
                step = 0
            data.seek(step * gan.batch_size)
            writer = None
            if state.logdir:
                writer = v1.summary.FileWriter(state.logdir, gan.graph if step == 0 else None)
                # Drop events a killed run logged after its last checkpoint: TensorBoard purges later steps.
                writer.add_session_log(v1.SessionLog(status=v1.SessionLog.START), max(0, step - state.pretrain_steps))
            started = time.perf_counter() - state.elapsed_seconds

            def checkpoint(where, milestone=False):
                if checkpoints:
                    check_finite_weights(where, weight_names, sess.run(weights_finite))
                    state.elapsed_seconds = time.perf_counter() - started
                    with signals_held():   # a stop waits for the checkpoint and its grid
                        saved_step = checkpoints.save(sess, state, milestone)
                        save_grid(generate(sess, gan, fixed_noise(state.seed, gan.z_dim)),
                                  pathlib.Path(checkpoint_dir) / GRIDS / f"step{saved_step:07d}.png", columns=10)

            total = state.pretrain_steps + iterations
            printed = None   # the last row printed: with checkpoints more often than summaries, each row once
            with tqdm(total=total, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
                      mininterval=1.0) as bar:
                bar.set_description("pre-training D")
                while step < state.pretrain_steps:
                    z_d = step_noise(state.seed, step, gan.batch_size, gan.z_dim)[0]
                    loss_real, loss_fake = pretrain(sess, real_batch(data, gan.batch_size), z_d)
                    check_finite(f"pre-training step {step}", d_loss_real=loss_real, d_loss_fake=loss_fake)
                    step += 1
                    bar.update()
                    bar.set_postfix(d_real=f"{loss_real:.3f}", d_fake=f"{loss_fake:.3f}")
                    if step == state.pretrain_steps:
                        checkpoint(f"pre-training step {step - 1}")
                bar.set_description("training")
                while step < total:
                    i = step - state.pretrain_steps
                    z_d, z_g, z_summary = step_noise(state.seed, step, gan.batch_size, gan.z_dim)
                    real = real_batch(data, gan.batch_size)
                    if guided is None:
                        iterate(sess, real, z_d, z_g)
                    else:
                        guided.iteration(sess, real, z_d, z_g, z_summary)
                    step += 1
                    bar.update()
                    if i % summary_every == 0:
                        row = log_summary(sess, gan, writer, real, z_summary, i)
                        check_finite(f"iteration {i}", **{k: row[k] for k in LOSSES})
                        row.update(guided.log_counts(sess, writer, i) if guided else {})
                        history.append(row)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "iteration"})
                    if callback is not None and callback_every and i % callback_every == 0:
                        callback(sess, gan, i)
                    milestone = (i + 1) % milestone_every == 0
                    if (i + 1) % checkpoint_every == 0 or milestone or step == total:
                        if i % summary_every:   # no row checked this iteration: check the losses before saving
                            check_finite(f"iteration {i}", **dict(zip(LOSSES, sess.run(
                                [getattr(gan, name) for name in LOSSES], {gan.x: real, gan.z: z_summary}))))
                        checkpoint(f"iteration {i}", milestone)
                        if progress and history and history[-1] is not printed:
                            printed = history[-1]
                            bar.write(format_row(printed, total - state.pretrain_steps))
            if writer is not None:
                writer.close()
        return history
