"""The typed errors omniembed raises.

Every error a caller can cause with bad input is an :class:`InvalidInput` (itself a ``ValueError``),
so ``except ValueError`` keeps working for code that does not know omniembed. Transports map the
classes to status codes in one place (``http_status``): the server never inspects messages.
"""

from __future__ import annotations

__all__ = [
    "OmniEmbedError",
    "InvalidInput",
    "UnsupportedMediaType",
    "DecodeError",
    "EncryptedDocument",
    "MediaTooLarge",
    "DecodeTimeout",
    "ProfileMismatch",
    "MissingDependency",
    "CostLimitExceeded",
    "RequestCancelled",
    "DeadlineExceeded",
    "WorkerFailed",
    "ModelCorrupt",
    "FileNotFound",
    "FileAccessDenied",
]


class OmniEmbedError(Exception):
    """Base class of every error omniembed raises on purpose."""

    http_status: int = 500


class InvalidInput(OmniEmbedError, ValueError):
    """The request itself is wrong: empty input, unknown task type, dimensionality out of range…"""

    http_status = 400


class UnsupportedMediaType(InvalidInput):
    """The bytes are of a type omniembed cannot embed, or not of the type the caller declared."""

    http_status = 415


class DecodeError(InvalidInput):
    """The bytes claim a supported type but cannot be decoded (truncated, corrupt, empty)."""

    http_status = 400


class EncryptedDocument(DecodeError):
    """A password-protected document (e.g. an encrypted PDF) that cannot be opened without its key."""


class MediaTooLarge(InvalidInput):
    """A size limit was exceeded: bytes, pixels (decompression bombs), pages, duration, characters."""

    http_status = 413


class DecodeTimeout(DecodeError):
    """A decoder ran past its time limit (pathological or hostile media)."""


class ProfileMismatch(OmniEmbedError):
    """Vectors of different profiles or sizes were about to be mixed (e.g. in a store)."""

    http_status = 409


class MissingDependency(OmniEmbedError, ImportError):
    """An optional feature was used without its extra installed (``pip install omniembed[...]``)."""

    http_status = 501


class CostLimitExceeded(MediaTooLarge):
    """A request's estimated compute (tokens, pages, seconds of media, pixels) is over its budget."""


class RequestCancelled(OmniEmbedError):
    """The work was stopped at a unit boundary because nobody waits for it any more (client gone)."""

    http_status = 499


class DeadlineExceeded(RequestCancelled):
    """The work was stopped at a unit boundary because its deadline passed."""

    http_status = 504


class WorkerFailed(OmniEmbedError):
    """An isolated worker process died or was killed (time or memory limit) while handling the input."""

    http_status = 422


class ModelCorrupt(OmniEmbedError):
    """Model files do not match what they should be: the Whisper files in the wheels or in the cache
    against their recorded sizes/hashes, or a profile's encoder against the size of its space."""


class FileNotFound(InvalidInput):
    """A file reference (``files/ID`` on the server) names a file that does not exist."""

    http_status = 404


class FileAccessDenied(InvalidInput):
    """A file reference names something the caller is not allowed to read (outside the allowed folders,
    a URL the server will not fetch)."""

    http_status = 403
