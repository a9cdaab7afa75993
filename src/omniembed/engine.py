"""The engine: an :class:`EmbedRequest` in, one :class:`EmbeddingResult` per content out.

content → parts → evidence (modality pipelines) → text chunks → encoder (batched across every
content of the request) → piece vectors → fusion → space (rotation, Matryoshka size, unit norm).

The engine is synchronous and CPU-bound; it knows nothing of JSON, HTTP or files' names on the wire.
Transports (server, CLI, adapters) build an ``EmbedRequest`` and call :meth:`Engine.embed`. File
references are resolved by a ``FileResolver`` the caller supplies, so the server decides which paths
a request may read and the library may read any local file its user names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

import numpy as np

from .budget import Budget, CancelToken, text_cost
from .encoders.base import Encoders, TextEncoder
from .errors import CostLimitExceeded, InvalidInput, OmniEmbedError, RequestCancelled
from .evidence import Evidence, MediaContext, Segment
from .fusion import FusionConfig, fuse_parts, pool_pieces
from .hearing import with_audio
from .media import extract_many
from .media.source import Limits, MediaSource
from .media.text import check_unicode, chunk_text, clean_text, fine_windows
from .space import Profile, Space, encoder_mode, get_profile, parse_task_prefix
from .types import EmbeddingResult, EmbedRequest, FileData, Part, Piece, TaskType

__all__ = ["Engine", "FileResolver", "local_file_resolver"]

#: Turns a file reference into a readable source; raises InvalidInput for what it will not read.
FileResolver = Callable[[FileData, Limits], MediaSource]


def local_file_resolver(ref: FileData, limits: Limits) -> MediaSource:
    """The library's resolver: any local path or ``file://`` URI the caller names."""
    uri = ref.file_uri
    if uri.startswith("file://"):
        uri = unquote(urlparse(uri).path)
    elif "://" in uri:
        raise InvalidInput(f"cannot read {ref.file_uri!r}: only local paths and file:// URIs are supported here")
    return MediaSource.from_path(Path(uri).expanduser(), ref.mime_type, limits)


@dataclass
class _Job:
    """One chunk of text to encode, and where its vector goes."""

    text: str
    mode: str
    tokens: int
    segment: Segment
    vector: np.ndarray | None = None
    snippet: str = ""  # the chunk without the title header, for search snippets
    level: str = "chunk"  # "fine": a line/sentence window, returned as a piece but never pooled


@dataclass
class _PartState:
    modality: str
    jobs: list[_Job] = field(default_factory=list)


class Engine:
    """Runs requests for one profile. Thread-safe: encoders serialise their own native calls.

    Work is done in **units** — one encoder call of at most :attr:`unit_tokens` tokens, one PDF page, one
    audio block, one video frame — and a :class:`~omniembed.budget.CancelToken` passed to :meth:`embed` is
    checked before each, so a cancelled request stops within one unit. A
    :class:`~omniembed.budget.Budget` is charged with each part's estimated cost (text from its length,
    media from its header) before that part is decoded or encoded.
    """

    #: Tokens per encoder call (a work unit). Two full 512-token chunks: 2–5 s on 2 cores, while batching
    #: more buys little (8 chunks in one call: 1.5× the throughput of one at a time, measured).
    unit_tokens: int = 1024

    def __init__(
        self,
        profile: str | Profile = "lite",
        *,
        limits: Limits | None = None,
        fusion: FusionConfig | None = None,
        file_resolver: FileResolver = local_file_resolver,
        ocr: str | None = None,
        ocr_languages: str | None = None,
        asr_options: dict | None = None,
        speech_model: str | Path | None = None,
        sound_model: str | Path | None = None,
    ):
        # a speech model (faster-whisper directory) and/or a sound model (CLAP directory) join the
        # profile's encoders; a sound model gives the profile its own id (hearing.py)
        self.profile = with_audio(get_profile(profile), speech_model=speech_model, sound_model=sound_model)
        self.space = Space(self.profile)
        self.limits = limits or Limits()
        self.fusion = fusion or FusionConfig()
        self.file_resolver = file_resolver
        self._ctx = MediaContext(
            limits=self.limits, ocr_engine=ocr, ocr_languages=ocr_languages, asr_options=dict(asr_options or {})
        )

    @property
    def encoders(self) -> Encoders:
        """The profile's encoder set (loaded on first use, then shared by every engine of the profile)."""
        return self.profile.load_encoders()

    @property
    def text_encoder(self) -> TextEncoder:
        return self.encoders.text

    # ------------------------------------------------------------------------------------------
    def embed(
        self, request: EmbedRequest, *, cancel: CancelToken | None = None, budget: Budget | None = None
    ) -> list[EmbeddingResult]:
        """One result per content. ``cancel`` stops the work between units (raising
        :class:`~omniembed.errors.RequestCancelled` / ``DeadlineExceeded``); ``budget`` refuses work past
        its estimated-cost ceiling (:class:`~omniembed.errors.CostLimitExceeded`) before doing it."""
        return self._run(request, cancel, budget, isolate=False)  # type: ignore[return-value]

    def embed_each(
        self, request: EmbedRequest, *, cancel: CancelToken | None = None
    ) -> list[EmbeddingResult | OmniEmbedError]:
        """Like :meth:`embed`, but a content that cannot be embedded (unreadable, corrupt, empty…) gets
        its typed error in its slot instead of failing the others: one request, shared extraction
        batches and encoder calls, for callers that report files one by one (the indexer). Errors of the
        request itself (too many parts, a bad size) and a cancellation still raise."""
        return self._run(request, cancel, None, isolate=True)

    def _run(
        self, request: EmbedRequest, cancel: CancelToken | None, budget: Budget | None, *, isolate: bool
    ) -> list[EmbeddingResult | OmniEmbedError]:
        cancel = cancel or CancelToken()
        if not request.contents:
            raise InvalidInput("nothing to embed: the list of contents is empty")
        dims = self.space.check_dimensionality(request.output_dimensionality)
        task = TaskType.parse(request.task_type)
        if request.title is not None:
            check_unicode(request.title, "the title")
        total_parts = sum(len(c.parts) for c in request.contents)
        if total_parts > self.limits.max_parts:
            raise InvalidInput(f"{total_parts:,} parts in one request; the limit is {self.limits.max_parts:,}")

        if budget is not None:  # all text first: a too-long request is refused before any media is opened
            cost = text_cost(request)
            if cost.tokens:
                budget.charge(cost, "the request's text")
        encoders = self.encoders
        ctx = replace(self._ctx, cancel=cancel, budget=budget, encoders=encoders)
        enc = encoders.text
        # isolate: a content's typed error goes in its slot (failed[ci]) and its other parts are dropped
        failed: dict[int, OmniEmbedError] = {}

        def fail(ci: int, exc: OmniEmbedError) -> None:
            if not isolate or isinstance(exc, (RequestCancelled, CostLimitExceeded)):
                raise exc
            failed.setdefault(ci, exc)

        found: list[list[tuple[Evidence | MediaSource, TaskType, str | None]]] = []
        for ci, content in enumerate(request.contents):
            row = []
            try:
                if not content.parts:
                    raise InvalidInput(f"content {ci} has no parts")
                for pi, part in enumerate(content.parts):
                    cancel.check()
                    row.append(self._evidence(part, ci, pi, task, request.title, ctx))
            except OmniEmbedError as exc:
                fail(ci, exc)
                row = []
            found.append(row)
        # media of every content are extracted together: pipelines batch what gains from it (short
        # audio clips share Whisper windows, media/audio.py); the first failure, in order, is raised
        where = [(ci, pi) for ci, row in enumerate(found) for pi, (item, _, _) in enumerate(row)
                 if isinstance(item, MediaSource)]  # fmt: skip
        for (ci, pi), ev in zip(where, extract_many([found[ci][pi][0] for ci, pi in where], ctx)):  # type: ignore[misc]
            if isinstance(ev, Exception):
                fail(ci, ev)
                continue
            found[ci][pi] = (ev, *found[ci][pi][1:])  # type: ignore[assignment]
        states: list[list[_PartState]] = []
        for ci, row in enumerate(found):
            if ci in failed:
                states.append([])
                continue
            try:
                states.append([self._plan(ev, ci, pi, part_task, title, enc, request.fine)  # type: ignore[arg-type]
                               for pi, (ev, part_task, title) in enumerate(row)])  # fmt: skip
            except OmniEmbedError as exc:
                fail(ci, exc)
                states.append([])

        self._encode([job for sts in states for st in sts for job in st.jobs], enc, cancel)

        return [failed[ci] if ci in failed else self._assemble([ev for ev, _, _ in row], sts, dims)  # type: ignore[misc]
                for ci, (row, sts) in enumerate(zip(found, states))]  # fmt: skip

    # ------------------------------------------------------------------------------------------
    def _evidence(
        self, part: Part, ci: int, pi: int, task: TaskType, title: str | None, ctx: MediaContext
    ) -> tuple[Evidence | MediaSource, TaskType, str | None]:
        """A text part's evidence, or a media part's source (extracted later, with the others), after
        charging the request's budget with the source's estimated cost."""
        where = f"content {ci}, part {pi}"
        if part.text is not None:
            check_unicode(part.text, f"{where}: text")
            prefix_task, prefix_title, body = parse_task_prefix(part.text)
            if len(body) > self.limits.max_text_chars:
                raise InvalidInput(
                    f"{where}: text has {len(body):,} characters; the limit is {self.limits.max_text_chars:,}"
                )
            body = clean_text(body)
            if not body:
                raise InvalidInput(f"{where}: empty text")
            return (
                Evidence("text", [Segment(body, "text", "text")]),
                prefix_task or task,
                prefix_title if prefix_title is not None else title,
            )
        if part.inline_data is not None:
            blob = part.inline_data
            if not isinstance(blob.data, (bytes, bytearray, memoryview)):
                raise InvalidInput(f"{where}: inline data must be bytes")
            src = MediaSource.from_bytes(bytes(blob.data), blob.mime_type, self.limits, name=f"part {pi}")
        else:
            assert part.file_data is not None
            src = self.file_resolver(part.file_data, self.limits)
        if ctx.budget is not None and src.modality != "text":
            from .media.probe import probe_cost

            ctx.budget.charge(probe_cost(src, self.limits), f"{where} ({src.describe()})")
        return src, task, title

    def _plan(
        self, ev: Evidence, ci: int, pi: int, task: TaskType, title: str | None, enc: TextEncoder, fine: bool = False
    ) -> _PartState:
        """Chunk every text segment of a part to fit the encoder's window (and, with ``fine``, add each
        chunk's line/sentence windows as jobs of their own, after the chunks)."""
        mode = encoder_mode(task)
        header = f"{title}\n" if (title and mode == "passage") else ""
        budget = enc.max_tokens - enc.overhead(mode) - (enc.token_count(header, mode) if header else 0) - 2
        state = _PartState(ev.modality)
        count = lambda s: enc.token_count(s, mode)  # noqa: E731
        for seg in ev.segments:
            if seg.vector is not None:  # a native encoder already gave this segment its vector
                state.jobs.append(_Job(seg.text, mode, 0, seg, np.asarray(seg.vector, np.float32)))
                continue
            for chunk in chunk_text(seg.text, count, budget):
                state.jobs.append(_Job(header + chunk.text, mode, chunk.tokens, seg, snippet=chunk.text))
        if not state.jobs:
            raise InvalidInput(f"content {ci}, part {pi}: nothing to embed")
        if fine:
            for job in [j for j in state.jobs if j.vector is None]:
                for window in fine_windows(job.snippet, count):
                    text = clean_text(window)  # what the window would be embedded as on its own
                    if text:
                        state.jobs.append(_Job(header + text, mode, count(text), job.segment, snippet=window,
                                               level="fine"))  # fmt: skip
        return state

    def _encode(self, jobs: list[_Job], enc, cancel: CancelToken) -> None:
        """Encode in units of at most :attr:`unit_tokens` tokens, checking ``cancel`` before each.

        A text that occurs several times (the same line in many files, a sentence in two overlapping
        chunks: the 672 texts of bench/bench_index.py's 19 text files are 620 distinct ones) is encoded
        once and its vector shared: the encoder maps the same text and mode to the same vector."""
        for mode in ("query", "passage"):
            same: dict[str, list[_Job]] = {}
            for j in jobs:
                if j.vector is None and j.mode == mode:
                    same.setdefault(j.text, []).append(j)
            todo = [group[0] for group in same.values()]
            i = 0
            while i < len(todo):
                unit, used = [todo[i]], todo[i].tokens
                i += 1
                while i < len(todo) and used + todo[i].tokens <= self.unit_tokens:
                    unit.append(todo[i])
                    used += todo[i].tokens
                    i += 1
                cancel.check()
                for j, v in zip(unit, enc.encode([j.text for j in unit], mode)):
                    for twin in same[j.text]:
                        twin.vector = v

    def _assemble(self, evs: list[Evidence], sts: list[_PartState], dims: int) -> EmbeddingResult:
        part_vectors, modalities, pieces_raw, pieces = [], [], [], []
        flags: set[str] = set()
        notes: list[str] = []
        tokens = 0
        for ev, st in zip(evs, sts):
            pooled = [j for j in st.jobs if j.level == "chunk"]
            part_vectors.append(
                pool_pieces(
                    np.stack([j.vector for j in pooled]),  # type: ignore[misc]
                    [j.tokens for j in pooled], [j.segment.weight for j in pooled], self.fusion, ev.modality,
                    [j.segment.source for j in pooled],
                )  # fmt: skip
            )
            modalities.append(ev.modality)
            flags |= ev.flags
            notes.extend(ev.notes)
            tokens += sum(j.tokens for j in pooled)
        # the pooled pieces of every part first, then the fine windows (EmbedRequest.fine), in order
        ordered = [(pi, j) for level in ("chunk", "fine") for pi, st in enumerate(sts) for j in st.jobs if j.level == level]
        for pi, j in ordered:
            s = j.segment
            pieces_raw.append(j.vector)
            pieces.append(
                Piece(
                    vector=None,  # type: ignore[arg-type]  # filled below, after projection
                    modality=s.modality,
                    text=j.snippet or s.text,
                    part_index=pi,
                    source=s.source,
                    page=s.page,
                    start_s=s.start_s,
                    end_s=s.end_s,
                    weight=s.weight,
                    token_count=j.tokens,
                    language=s.language,
                    encoding=s.encoding,
                    level=j.level,
                )
            )
        content_raw = fuse_parts(part_vectors, modalities, self.fusion)
        projected = self.space.project(np.vstack([content_raw[None], np.stack(pieces_raw)]), dims)
        for piece, vec in zip(pieces, projected[1:]):
            piece.vector = vec
        return EmbeddingResult(
            vector=projected[0],
            pieces=pieces,
            modalities=modalities,
            profile=self.profile.id,
            dimensions=dims,
            token_count=tokens,
            flags=flags,
            notes=notes,
        )
