"""TensorBoard shows what a training run logs: the tutorial's step 5, checked end to end.

On the conftest's short real run (``short_run``: ``ezgan.train.train`` with a summary every 5
iterations),

* TensorBoard's own event reader (``EventAccumulator``) must find the three loss scalars and the
  five ``Generated_images/image/N`` tags at the steps the run logged;
* the real ``tensorboard`` server, started on a free loopback port, must serve through its HTTP
  data API the run, those tags, the loss curves with the values the run computed, and the
  generated digits as 28x28 PNGs identical to the ones in the events file.

The server is tried with both of its loaders: ``--load_fast=auto`` (the default, which
``make tensorboard`` uses: the Rust data server where the platform has it) and
``--load_fast=false`` (TensorBoard's Python loader). Routes as in TensorBoard 2.21:
``/data/runs`` (core plugin), ``/data/plugin/scalars/{tags,scalars}`` and
``/data/plugin/images/{tags,images,individualImage}``.
"""
import io
import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

pytestmark = pytest.mark.slow   # TensorBoard servers and trainings

# TensorBoard tag -> key of the same loss in the rows that ezgan.train.train returns
SCALAR_TAGS = {
    "Generator_loss": "g_loss",
    "Discriminator_loss_real": "d_loss_real",
    "Discriminator_loss_fake": "d_loss_fake",
}
IMAGE_TAGS = [f"Generated_images/image/{n}" for n in range(5)]
# The short run (20 iterations, a summary every 5, seed 1), written out rather than read back from it:
# the iterations it logs, and each loss as measured once at those iterations.
LOGGED_STEPS = [0, 5, 10, 15]
MEASURED_LOSSES = {
    "d_loss_real": [0.666685, 0.632222, 0.581587, 0.509307],
    "d_loss_fake": [0.698735, 0.702814, 0.705956, 0.709107],
    "g_loss": [0.687591, 0.683573, 0.680501, 0.677439],
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERVER_WAIT_SECONDS = 60
SERVER_STOP_SECONDS = 10
# Loopback must never go through a proxy named in the environment.
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def run(short_run):
    """The short run as TensorBoard sees it: (logdir, run name, the rows train() returned)."""
    run_dir, _, history = short_run
    assert [row["iteration"] for row in history] == LOGGED_STEPS
    # The parent as logdir gives the run a name, as in tensorboard/<start time> of `make tensorboard`.
    return run_dir.parent, run_dir.name, history


@pytest.fixture(scope="module")
def events(run):
    """The run's events as TensorBoard's own reader sees them, every event kept."""
    logdir, run_name, _ = run
    accumulator = event_accumulator.EventAccumulator(
        str(logdir / run_name), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0})
    return accumulator.Reload()


def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TensorBoardServer:
    """A ``tensorboard`` process on 127.0.0.1 and a client for its HTTP data API."""

    def __init__(self, logdir, load_fast, log_path):
        self.port = free_loopback_port()
        self.log_path = log_path
        command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                   "--host", "127.0.0.1", "--port", str(self.port), f"--load_fast={load_fast}",
                   # The run is finished: one load suffices, and no reload competes for the CPU.
                   "--reload_interval=0"]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    def get(self, route, **params):
        """(body, content type) of GET ``route``; raises HTTPError on a status other than 200."""
        url = f"http://127.0.0.1:{self.port}{route}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with LOOPBACK_OPENER.open(url, timeout=30) as response:
                return response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            # The bare error names neither the URL nor what the server said.
            raise urllib.error.HTTPError(url, error.code, f"{error.reason} for {url}: {error.read()[:300]!r}",
                                         error.headers, None) from None

    def get_json(self, route, **params):
        body, content_type = self.get(route, **params)
        assert content_type == "application/json", f"{route}: {content_type}"
        return json.loads(body)

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_until(self, condition, what):
        """Poll ``condition()`` until it is true; a false result or a network error means "not yet"."""
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tensorboard exited with code {self.process.returncode} before {what}:\n"
                            f"{self.log_tail()}")
            try:
                if condition():
                    return
            except OSError as error:  # refused, reset, timed out, or an HTTP error status
                last_error = error
            time.sleep(0.25)
        pytest.fail(f"tensorboard did not get to {what} within {SERVER_WAIT_SECONDS} s "
                    f"(last error: {last_error}):\n{self.log_tail()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module", params=["auto", "false"], ids=lambda mode: f"load_fast={mode}")
def server(request, run, events, tmp_path_factory):
    """The real tensorboard server on the run's logdir, once it has loaded the whole run."""
    logdir, run_name, _ = run
    scalar_tags = events.Tags()["scalars"]
    if not scalar_tags:
        pytest.fail("the run logged no scalars: nothing tells when tensorboard has loaded it")
    # A loader may serve a run before it has read all of it; this is the file's last scalar.
    probe_tag = scalar_tags[0]
    last_step = events.Scalars(probe_tag)[-1].step
    log_path = tmp_path_factory.mktemp("tensorboard_log") / "tensorboard.log"
    tensorboard = TensorBoardServer(logdir, request.param, log_path)
    try:
        tensorboard.wait_until(lambda: tensorboard.get("/data/runs"), "answering HTTP")

        def last_step_loaded():  # the route answers 404 until the tag is loaded: "not yet"
            series = tensorboard.get_json("/data/plugin/scalars/scalars", run=run_name, tag=probe_tag)
            return bool(series) and series[-1][1] == last_step

        tensorboard.wait_until(last_step_loaded, f"serving step {last_step} of {probe_tag}")
        yield tensorboard
    finally:
        tensorboard.stop()


def test_event_accumulator_reads_the_summaries(events):
    tags = events.Tags()
    assert sorted(tags["scalars"]) == sorted(SCALAR_TAGS)
    assert sorted(tags["images"]) == IMAGE_TAGS
    assert [event.step for event in events.Scalars("Generator_loss")] == LOGGED_STEPS
    assert [event.step for event in events.Images(IMAGE_TAGS[0])] == LOGGED_STEPS


@pytest.mark.slow
def test_server_lists_the_run(server, run):
    _, run_name, _ = run
    assert server.get_json("/data/runs") == [run_name] == ["tb"]


def test_server_lists_the_scalar_tags(server, run):
    _, run_name, _ = run
    index = server.get_json("/data/plugin/scalars/tags")
    assert {name: sorted(tags) for name, tags in index.items()} == {run_name: sorted(SCALAR_TAGS)}


def test_server_lists_the_image_tags(server, run):
    _, run_name, _ = run
    index = server.get_json("/data/plugin/images/tags")
    assert list(index) == [run_name]
    assert sorted(index[run_name]) == IMAGE_TAGS
    # The TF1 image summary writes each of its max_outputs images under a tag of its own.
    assert {tag: info["samples"] for tag, info in index[run_name].items()} == {tag: 1 for tag in IMAGE_TAGS}


@pytest.mark.parametrize("tag", SCALAR_TAGS)
def test_server_serves_the_losses_the_run_computed(server, run, events, tag):
    _, run_name, history = run
    series = server.get_json("/data/plugin/scalars/scalars", run=run_name, tag=tag)
    steps = [step for _, step, _ in series]
    values = [value for _, _, value in series]
    assert steps == LOGGED_STEPS
    assert all(math.isfinite(value) for value in values), values
    assert values == [event.value for event in events.Scalars(tag)]
    # The summary and the returned row come from the same sess.run; the summary holds float32.
    assert values == pytest.approx([row[SCALAR_TAGS[tag]] for row in history], rel=1e-6)
    assert values == pytest.approx(MEASURED_LOSSES[SCALAR_TAGS[tag]], rel=1e-3)


def test_server_serves_the_generated_digits_as_png(server, run, events):
    _, run_name, _ = run
    tag = IMAGE_TAGS[0]
    images = server.get_json("/data/plugin/images/images", run=run_name, tag=tag, sample=0)
    assert [image["step"] for image in images] == LOGGED_STEPS
    # The query is opaque by contract: it is handed back as it came.
    body, content_type = server.get("/data/plugin/images/individualImage?" + images[-1]["query"])
    assert content_type == "image/png"
    assert body.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(body)) as png:
        assert png.format == "PNG"
        assert png.size == (28, 28)
    assert body == events.Images(tag)[-1].encoded_image_string
