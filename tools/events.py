"""A training run's TensorBoard events -> the thinned copy that ships (``tensorboard/tutorial-run/``).

``event_files`` and ``read_events`` read a run's logdir (a truncated last record ends a file: the
run may still be writing); ``thin_events`` keeps every scalar and the graph, the images only every
``IMAGE_EVERY`` iterations, and purges what a resumed run logged again; ``write_events`` writes
the copy as one event file, under a size limit.
"""
import collections
import pathlib
import shutil

from ezgan.errors import EzganError
from ezgan.tfsetup import tensorflow

tf = tensorflow()
v1 = tf.compat.v1
IMAGE_EVERY = 1000              # image summaries kept in the TensorBoard copy: every this many iterations
TENSORBOARD_MAX_BYTES = 10 * 1024 * 1024


class EventsError(EzganError):
    """The run's events cannot be copied as they are (none, out of order, the copy too large); the message says why."""


def event_files(logdir):
    """A logdir's event files in the order TensorBoard reads them (by name: the start time comes first)."""
    files = sorted(pathlib.Path(logdir).expanduser().glob("*tfevents*"))
    if not files:
        raise EventsError(f"{logdir}: no TensorBoard event files here")
    return files


def read_events(path, problems=None):
    """The events of one file. A truncated last record (a run still writing, or killed mid-write)
    ends the file instead of failing; it is noted in ``problems`` (a list) when given."""
    iterator = v1.train.summary_iterator(str(path))
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as error:
            if problems is not None:
                problems.append(f"{pathlib.Path(path).name}: {error.message.strip()}")
            return


def is_image(value):
    return value.WhichOneof("value") == "image" or value.metadata.plugin_data.plugin_name == "images"


def thin_summary(event, image_every):
    """The event itself at a multiple of ``image_every``, else a copy without its images (None if nothing is left)."""
    if event.step % image_every == 0 or not any(is_image(value) for value in event.summary.value):
        return event
    kept = [value for value in event.summary.value if not is_image(value)]
    if not kept:
        return None
    thinned = v1.Event()
    thinned.CopyFrom(event)
    del thinned.summary.value[:]
    thinned.summary.value.extend(kept)
    return thinned


def thin_events(files, image_every=IMAGE_EVERY, until=None):
    """The events of a run's event files as the TensorBoard copy keeps them; returns (events, statistics).

    * every scalar; image summaries only at steps that are multiples of ``image_every``;
    * the first graph and the first meta graph; no file_version (the writer adds its own) and no
      session logs (their work is done here);
    * a SessionLog START at step s (written when a run resumes) drops the summaries kept so far at
      steps >= s, as TensorBoard does (its ``_Purge`` keeps ``step < s``): the orphans a killed
      run logged after its last checkpoint, which the resumed run logs again;
    * ``until``: summaries at steps >= until are dropped too (the copy then ends where a run
      stopped at that iteration and resumed from there would).

    The summaries left must have strictly increasing steps, or an EventsError says where not.
    """
    kept, graphs, problems = [], set(), []
    stats = collections.Counter(sessions=0, purged=0, after_until=0, images_dropped=0)
    for path in files:
        for event in read_events(path, problems):
            kind = event.WhichOneof("what")
            stats[f"read_{kind}"] += 1
            if kind in ("graph_def", "meta_graph_def"):
                if kind not in graphs:
                    graphs.add(kind)
                    kept.append(event)
            elif kind == "session_log":
                if event.session_log.status == v1.SessionLog.START:
                    stats["sessions"] += 1
                    before = len(kept)
                    kept = [old for old in kept if not (old.HasField("summary") and old.step >= event.step)]
                    stats["purged"] += before - len(kept)
            elif kind == "summary":
                if until is not None and event.step >= until:
                    stats["after_until"] += 1
                    continue
                thinned = thin_summary(event, image_every)
                if thinned is not None:
                    kept.append(thinned)
                    if thinned is not event:
                        stats["images_dropped"] += sum(map(is_image, event.summary.value))
    steps = [event.step for event in kept if event.HasField("summary")]
    for earlier, later in zip(steps, steps[1:]):
        if later <= earlier:
            raise EventsError(f"after the purge, step {later} follows step {earlier}: duplicate or out-of-order "
                              f"summaries in {', '.join(path.name for path in files)}")
    summaries = [event for event in kept if event.HasField("summary")]
    stats.update(
        summary_events=len(summaries),
        scalar_values=sum(not is_image(value) for event in summaries for value in event.summary.value),
        image_values=sum(is_image(value) for event in summaries for value in event.summary.value),
        image_steps=sum(any(map(is_image, event.summary.value)) for event in summaries),
        graphs=len(graphs))
    stats = dict(stats, first_step=steps[0] if steps else None, last_step=steps[-1] if steps else None,
                 truncated=problems, files=[path.name for path in files])
    return kept, stats


def folder_bytes(folder):
    return sum(path.stat().st_size for path in pathlib.Path(folder).rglob("*") if path.is_file())


def write_events(events, out_dir, max_bytes=TENSORBOARD_MAX_BYTES):
    """Replace ``out_dir`` with one event file holding ``events``; returns its size in bytes.

    Raises EventsError when the folder comes out larger than ``max_bytes``.
    """
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tf.Graph().as_default():  # FileWriter refuses eager mode; a graph context is enough
        writer = v1.summary.FileWriter(str(out_dir))
        try:
            for event in events:
                writer.add_event(event)
        finally:
            writer.close()
    size = folder_bytes(out_dir)
    if size > max_bytes:
        raise EventsError(f"{out_dir} takes {size:,} bytes, more than the {max_bytes:,} allowed: "
                          f"keep fewer images (a larger image_every)")
    return size
