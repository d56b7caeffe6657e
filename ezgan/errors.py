"""The mistakes a user can make, one type each. The command line prints these as one line.

Everything else that goes wrong is a bug and stays a traceback.
"""


class EzganError(Exception):
    """A mistake of the user's (a path, a file, a number); the message names it and what to do."""


class MnistError(EzganError, ValueError):
    """A data file is missing, damaged or not the file we expect; the message names it."""


class CheckpointError(EzganError, ValueError):
    """A checkpoint is missing or does not hold the variables the model needs; the message names them."""


class RepositoryError(EzganError):
    """A folder of the repository (``MNIST_data/``, ``pretrained/``) cannot be found."""


class TrainingDiverged(EzganError):
    """A loss became NaN or infinite; training stopped without saving it (the last good checkpoint stays)."""


class WriteError(EzganError):
    """An output cannot be written (a folder where a file should be, no permission, a full disk); what was there stays."""
