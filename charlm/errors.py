"""Errors a user of charlm can cause. Each carries one sentence meant for people, not a traceback."""


class CharLMError(Exception):
    """Base class for every error charlm raises on purpose."""


class AlphabetError(CharLMError, ValueError):
    """Text or an alphabet that cannot be used (empty, nothing left after normalising...)."""


class CheckpointError(CharLMError):
    """A checkpoint file that is missing, damaged, or does not describe a model we can build."""


class SamplingError(CharLMError, ValueError):
    """Sampling parameters outside their allowed range (temperature, length, top-k)."""


class TrainingError(CharLMError):
    """Training cannot start: bad data, bad options, or an output path we cannot write."""


class DeviceError(CharLMError, ValueError):
    """A device name that is malformed or names hardware this machine does not have."""


class PictureError(CharLMError):
    """A picture that cannot be drawn: a label the bundled font cannot show, or the renderer failed."""
