"""Which model names this server answers to, and how each dialect describes them.

The server runs ONE profile. Clients may name it by its model name (``omniembed-lite``), its versioned
id (``omniembed-lite-1``), with or without ``models/``. An operator may add aliases
(``omniembed serve --model-alias gemini-embedding-2``) so existing code runs unchanged; responses then
still say which model answered (header ``x-omniembed-model`` on every embedding response, ``model`` in
OpenAI responses, ``GET /v1beta/models`` lists the alias with the real profile in its description).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..media.source import Limits
from ..space import Profile
from .errors import ApiError

__all__ = ["ModelCatalog"]

_CREATED = 1_767_225_600  # 2026-01-01, a fixed "created" for OpenAI's model objects


@dataclass
class ModelCatalog:
    profile: Profile
    aliases: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def names(self) -> list[str]:
        base = [self.profile.model_name, self.profile.id]
        return base + [a for a in self.aliases if a not in base]

    def resolve(self, name: str | None, *, required: bool = True) -> Profile:
        """The profile a model name means; 404 NOT_FOUND for names this server does not serve."""
        if not name:
            if required:
                raise ApiError(400, "model is required")
            return self.profile
        key = str(name).strip()
        if key.startswith("models/"):
            key = key[len("models/"):]
        if key in self.names or key == "lite":
            return self.profile
        raise ApiError(
            404,
            f"model {name!r} is not served here; available: {', '.join(self.names)}",
            code="model_not_found",
            param="model",
        )

    # --- Gemini --------------------------------------------------------------------------------
    def gemini_model(self, name: str) -> dict:
        p = self.profile
        alias_note = "" if name in (p.model_name, p.id) else f" (alias of {p.id})"
        return {
            "name": f"models/{name}",
            "baseModelId": p.model_name,
            "version": p.version,
            "displayName": f"{name}{alias_note}",
            "description": p.description + alias_note,
            # omniembed chunks and pools long text instead of truncating it; the real bound is characters.
            "inputTokenLimit": self.limits.max_text_chars // 4,
            "outputTokenLimit": 1,
            "supportedGenerationMethods": ["embedContent", "batchEmbedContents", "asyncBatchEmbedContent"],
            # omniembed extensions: the output sizes and media limits a client can plan with.
            "embeddingDimensions": {"default": p.native_dim, "min": p.min_dimensionality, "max": p.native_dim},
            "profile": p.id,
            "inputLimits": {
                "maxInlineBytes": self.limits.max_inline_bytes,
                "maxFileBytes": self.limits.max_file_bytes,
                "maxTextChars": self.limits.max_text_chars,
                "maxImagePixels": self.limits.max_image_pixels,
                "maxPdfPages": self.limits.max_pdf_pages,
                "maxMediaSeconds": self.limits.max_media_seconds,
            },
        }

    def gemini_list(self) -> dict:
        return {"models": [self.gemini_model(n) for n in self.names]}

    # --- OpenAI --------------------------------------------------------------------------------
    def openai_model(self, name: str) -> dict:
        return {"id": name, "object": "model", "created": _CREATED, "owned_by": "omniembed"}

    def openai_list(self) -> dict:
        return {"object": "list", "data": [self.openai_model(n) for n in self.names]}
