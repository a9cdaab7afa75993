"""omniembed: open, offline multimodal embeddings.

One call turns text, images, PDFs, audio and video — alone or interleaved — into unit vectors in one
shared space. Start with :class:`Embedder`; :class:`Client` mirrors the google-genai API.
"""

from . import errors, types
from .client import Client
from .cluster import Classification, classify
from .embedder import Embedder
from .fusion import FusionConfig
from .media.source import Limits
from .profiles import PROFILES, Profile, get_profile, register_family, register_profile
from .types import Content, EmbeddingResult, Part, Piece, TaskType

__version__ = "0.1.0"

__all__ = [
    "Embedder",
    "classify",
    "Classification",
    "Client",
    "Part",
    "Content",
    "TaskType",
    "EmbeddingResult",
    "Piece",
    "FusionConfig",
    "Limits",
    "Profile",
    "PROFILES",
    "get_profile",
    "register_profile",
    "register_family",
    "errors",
    "types",
    "__version__",
]
