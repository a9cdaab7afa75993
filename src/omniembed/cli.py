"""The ``omniembed`` command line (also ``python -m omniembed``).

Each command is a thin translator: it parses arguments, calls the library, and prints. Commands whose
layers are optional (server, store) import them inside the command, so ``omniembed --help`` is fast.

Conventions: ``--version``; exit codes per kind of failure (:class:`ExitCode`), so scripts can tell a
typo from a corrupt file from a missing extra; messages (which quote user input and ``pip install
'omniembed[extra]'``) are printed verbatim, never read as rich markup; every option of every command
can also come from ``OMNIEMBED_<COMMAND>_<OPTION>`` (click's auto env-var prefix), e.g.
``OMNIEMBED_SERVE_PORT=9000`` or ``OMNIEMBED_INDEX_STORE=/data/store``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from pathlib import Path
from typing import List, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .errors import InvalidInput, MissingDependency, OmniEmbedError, ProfileMismatch
from .types import TaskType

app = typer.Typer(
    name="omniembed",
    help="Open, offline multimodal embeddings: text, images, PDFs, audio and video in one vector space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

#: Environment variables named ``OMNIEMBED_<COMMAND>_<OPTION>`` set any option (see :func:`main`).
ENV_PREFIX = "OMNIEMBED"


class ExitCode(enum.IntEnum):
    """What the process exit status means (also in ``omniembed --help``)."""

    OK = 0
    INTERNAL = 1  # a bug in omniembed: an unexpected exception (OMNIEMBED_DEBUG=1 prints the traceback)
    USAGE = 2  # a wrong command line: unknown option, bad value (click's own code for usage errors)
    INPUT = 3  # the input is wrong: missing file, corrupt or unsupported media, store of another profile…
    MISSING_DEPENDENCY = 4  # an optional extra is not installed (the message names it)
    INTERRUPTED = 130  # Ctrl-C / SIGINT (an interrupted index run resumes when run again)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"omniembed {__version__}")
        raise typer.Exit()


@app.callback(epilog="Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 4 missing extra, 130 interrupted.")
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    device: Optional[str] = typer.Option(None, "--device", envvar="OMNIEMBED_DEVICE",
                                         help="Where model-directory profiles run: cpu (default), auto, cuda, "
                                         "rocm, directml, coreml (GPU ones need onnxruntime-gpu or the like)."),
) -> None:
    """Open, offline multimodal embeddings: text, images, PDFs, audio and video in one vector space."""
    if device:
        from .encoders.joint import providers_for

        try:
            providers_for(device)  # an unknown or unavailable device is a usage error before any work
        except OmniEmbedError as exc:
            _usage(f"--device: {exc}")
        os.environ["OMNIEMBED_DEVICE"] = device  # read where sessions are made, also in worker processes


def exit_code(exc: BaseException) -> ExitCode:
    """The :class:`ExitCode` for an exception that reached the command line."""
    if isinstance(exc, (MissingDependency, ImportError)):
        return ExitCode.MISSING_DEPENDENCY
    if isinstance(exc, (InvalidInput, ProfileMismatch, OmniEmbedError)):
        return ExitCode.INPUT
    return ExitCode.INTERNAL


def _print_error(message: str, label: str = "error") -> None:
    # Text, not a markup string: "pip install 'omniembed[server]'" and "-t '[bold]QUERY'" print as typed.
    err_console.print(Text.assemble((f"{label}: ", "bold red"), message), highlight=False)


def _fail(exc: BaseException) -> NoReturn:
    _print_error(str(exc))
    raise typer.Exit(exit_code(exc))


def _usage(message: str) -> NoReturn:
    """A wrong command line: a usage error (exit 2, with the usage line). typer's own exception class,
    since recent typer vendors click: the ``click`` package's exceptions would not be recognised."""
    raise typer.BadParameter(message)


#: File name endings that make an argument a file for ``omniembed embed`` even when it does not exist
#: (then it is an error, not a text): what the engine reads, plus common document names.
_FILE_SUFFIXES = frozenset(
    ".txt .md .markdown .pdf .png .jpg .jpeg .webp .gif .bmp .tif .tiff .heic .heif .avif .wav .mp3 .flac "
    ".ogg .oga .opus .m4a .aac .aif .aiff .aifc .mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .docx .csv .json "
    ".html .htm".split()
)


def looks_like_path(arg: str) -> bool:
    """Whether a string that names no existing file was meant as one: one line ending in a file suffix
    (``report.pdf``, ``my talk.mp3``), or a single word starting like a path (``./x``, ``/x``, ``~/x``)."""
    if not arg or "\n" in arg or len(arg) > 1024:
        return False
    s = arg.strip()
    if Path(s).suffix.lower() in _FILE_SUFFIXES:
        return True
    return not any(c.isspace() for c in s) and s.startswith(("/", "./", "../", "~/", "file://"))


def _as_input(arg: str, *, as_text: bool = False):
    """A CLI argument is a file when such a file exists, otherwise text; a path-like argument that
    names no file is an error (``--text`` embeds every argument as text)."""
    if as_text:
        return arg
    p = Path(arg[len("file://"):] if arg.startswith("file://") else arg).expanduser()
    try:
        if p.is_file():
            return p
        if p.is_dir():
            raise InvalidInput(f"{arg!r} is a folder; index folders with: omniembed index {arg}")
    except (OSError, ValueError):  # a long text is not a valid path
        return arg
    if looks_like_path(arg):
        raise InvalidInput(f"no such file: {arg!r} (to embed this string as text, pass --text)")
    return arg


def _label(item) -> str:
    if isinstance(item, Path):
        return item.name
    if not isinstance(item, str):
        return "<stdin>"
    return item if len(item) <= 40 else item[:37] + "..."


def _stdin_inputs(lines: bool) -> list:
    """``embed -``: standard input as ONE content (bytes, whose type is sniffed: text, PDF, image, audio…)
    or, with ``--lines``, one text per non-empty line."""
    from .types import Part

    data = sys.stdin.buffer.read()
    if not data.strip():
        raise InvalidInput("standard input is empty")
    if lines:
        from .media.text import decode_text

        text = decode_text(data)
        return [ln for ln in text.splitlines() if ln.strip()]
    return [Part.from_bytes(data)]


def _task_type(value: str) -> str:
    try:
        return TaskType.parse(value).value
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from None


_TASK_HELP = "Task type, one of: " + ", ".join(t.value for t in TaskType) + " (case-insensitive)."


_SPEECH_LANGUAGE_HELP = "Spoken language of audio/video (ISO code, e.g. de); skips language identification."
_SPEECH_LANGUAGES_HELP = "Languages your recordings use, e.g. en,de,fr: identification picks among them."
_SPEECH_MODEL_HELP = ("A faster-whisper (CTranslate2) Whisper directory to use instead of Whisper base "
                      "(large-v3, distil-whisper, a fine-tune); see docs/profiles.md.")
_SOUND_MODEL_HELP = ("A CLAP ONNX export directory: non-speech audio and sound tracks get zero-shot sound tags "
                     "(its own profile id); see docs/profiles.md.")


def _speech_model_opt():
    return typer.Option(None, "--speech-model", help=_SPEECH_MODEL_HELP)


def _sound_model_opt():
    return typer.Option(None, "--sound-model", help=_SOUND_MODEL_HELP)


def _ray_opt():
    """``--ray [ADDRESS]``: the value may be left out (:func:`_optional_values` fills in ``auto``)."""
    return typer.Option(None, "--ray", metavar="[ADDRESS]",
                        help="Embed on a Ray cluster (pip install 'omniembed\\[ray]'): HOST:PORT of its head, "
                        "or alone for $RAY_ADDRESS / the cluster `ray start` runs here. The store is written "
                        "by this process; see docs/search.md.")


#: Options whose value may be left out, and the value they then take (Typer has no optional values).
_OPTIONAL_VALUES = {"--ray": "auto"}


def _optional_values(argv: list[str]) -> list[str]:
    """``--ray`` at the end of the line or before another option → ``--ray auto``."""
    out: list[str] = []
    for i, a in enumerate(argv):
        out.append(a)
        if a in _OPTIONAL_VALUES and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(_OPTIONAL_VALUES[a])
    return out


def _speech_options(language: Optional[str], languages: Optional[str], **extra) -> dict:
    """ASR options from the command line, checked before any work starts."""
    from .encoders.asr import AsrOptions

    opts = dict(extra)
    if language:
        opts["language"] = language.strip()
    if languages:
        opts["languages"] = [x.strip() for x in languages.split(",") if x.strip()]
    AsrOptions.from_dict(opts)
    return opts


@app.command()
def embed(
    inputs: List[str] = typer.Argument(
        ..., help="Texts or files (a file is used when the path exists; a path-like name that does not "
        "exist is an error). '-' reads standard input."),
    task_type: str = typer.Option("RETRIEVAL_DOCUMENT", "--task-type", "-t", help=_TASK_HELP,
                                  callback=_task_type),
    dims: Optional[int] = typer.Option(None, "--dims", "-d", help="Output size, 128..384 (Matryoshka)."),
    matrix: bool = typer.Option(False, "--matrix", "-m", help="Print a cosine-similarity table instead of vectors."),
    detailed: bool = typer.Option(False, "--detailed", help="JSON with pieces (pages, seconds, text) too."),
    profile: str = typer.Option("lite", "--profile", "--model-dir", help="Embedding profile: lite, or an image-text model directory (CLIP, SigLIP, jina-clip-v2 ONNX export; see docs/profiles.md)."),
    speech_language: Optional[str] = typer.Option(None, "--speech-language", help=_SPEECH_LANGUAGE_HELP),
    speech_languages: Optional[str] = typer.Option(None, "--speech-languages", help=_SPEECH_LANGUAGES_HELP),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
    as_text: bool = typer.Option(False, "--text", help="Embed every argument as text, even one naming a file."),
    lines: bool = typer.Option(False, "--lines", help="With '-': one input per line of standard input."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--quiet", help="Progress bar on stderr (default: on a terminal, for several inputs)."),
) -> None:
    """Embed texts and files; print JSON vectors (default) or a similarity matrix.

    Examples: omniembed embed "a dog on a beach" photo.jpg talk.mp3 · cat notes.txt | omniembed embed - ·
    omniembed embed --text report.pdf (the words, not the file)."""
    from .embedder import Embedder

    _check_profile_dims(profile, dims)
    try:
        items = []
        for a in inputs:
            items.extend(_stdin_inputs(lines) if a == "-" and not as_text else [_as_input(a, as_text=as_text)])
        if not items:
            raise InvalidInput("nothing to embed")
        emb = Embedder(profile, asr_options=_speech_options(speech_language, speech_languages),
                       speech_model=speech_model, sound_model=sound_model)
        results = _embed_with_progress(emb, items, task_type, dims, progress)
    except OmniEmbedError as exc:
        _fail(exc)
    if matrix:
        import numpy as np

        vecs = np.stack([r.vector for r in results])
        sims = vecs @ vecs.T
        table = Table(title=f"cosine similarity ({results[0].profile}, {results[0].dimensions}-d)")
        table.add_column("")
        for it in items:
            table.add_column(Text(_label(it)), justify="right")
        for it, row in zip(items, sims):
            table.add_row(Text(_label(it)), *[f"{x:.3f}" for x in row])
        console.print(table)
        return
    out = []
    for it, r in zip(items, results):
        rec = {
            "input": str(it) if isinstance(it, (str, Path)) else "-",
            "profile": r.profile,
            "dimensions": r.dimensions,
            "modalities": r.modalities,
            "values": [round(float(x), 6) for x in r.vector],
        }
        if detailed:
            rec["flags"] = sorted(r.flags)
            rec["notes"] = r.notes
            rec["pieces"] = [
                {
                    "modality": p.modality,
                    "source": p.source,
                    "page": p.page,
                    "start_s": p.start_s,
                    "end_s": p.end_s,
                    "language": p.language,
                    **({"encoding": p.encoding} if p.encoding else {}),
                    "text": p.text,
                }
                for p in r.pieces
            ]
        out.append(rec)
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def _check_profile_dims(profile: str, dims: Optional[int]) -> None:
    """A wrong --profile or --dims is a usage error (exit 2), found before any model loads."""
    from .space import get_profile

    try:
        p = get_profile(profile)
    except InvalidInput as exc:
        _usage(f"--profile: {exc}")
    low, native = p.min_dimensionality, p.native_dim
    if dims is not None and not low <= dims <= native:
        _usage(f"--dims: output_dimensionality {dims} is out of range: profile {profile} accepts "
               f"{low} to {native}")


def _embed_with_progress(emb, items: list, task_type: str, dims: Optional[int], progress: Optional[bool]) -> list:
    """Embed in slices (32 texts, or 2 files, at a time: the engine batches within a slice) so a bar
    can advance; results are the same as one call, per content."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    step = 32 if all(isinstance(i, str) for i in items) else 2
    show = progress if progress is not None else (err_console.is_terminal and len(items) > 1)
    results: list = []
    with Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, disable=not show, transient=False) as bar:
        task = bar.add_task("embed", total=len(items))
        for i in range(0, len(items), step):
            chunk = items[i : i + step]
            results.extend(emb.embed_detailed(chunk, task_type=task_type, output_dimensionality=dims))
            bar.advance(task, len(chunk))
    return results


_STORE_HELP = ("Store: a folder (LanceDB), s3://bucket/prefix (LanceDB on object storage), qdrant:FOLDER (Qdrant "
               "local) or http://host:6333[#collection].")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 exposes it: set --api-key)."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port."),
    api_key: Optional[List[str]] = typer.Option(
        None, "--api-key", envvar="OMNIEMBED_API_KEY",
        help="Require this key (x-goog-api-key, ?key= or Authorization: Bearer). Repeat for several."),
    store: Optional[str] = typer.Option(None, "--store", help="Index store to serve the search page over. " + _STORE_HELP),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Uploaded files and batch jobs (SQLite)."),
    profile: str = typer.Option("lite", "--profile", "--model-dir", help="Embedding profile: lite, or an image-text model directory (CLIP, SigLIP, jina-clip-v2 ONNX export; see docs/profiles.md)."),
    model_alias: Optional[List[str]] = typer.Option(
        None, "--model-alias", help="Extra model name answered by the profile, e.g. gemini-embedding-2."),
    allow_files: Optional[List[Path]] = typer.Option(
        None, "--allow-files", help="Local folder fileData.fileUri may read (default: uploaded files only)."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", help="Contents merged into one engine call."),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms", help="Extra wait for batch-mates (0: no added latency)."),
    max_queue: int = typer.Option(4096, "--max-queue", help="Contents waiting before answering 429."),
    workers: int = typer.Option(2, "--workers", help="Heavy requests (media, long text) in flight, each in a worker process."),
    timeout: float = typer.Option(600.0, "--timeout", help="Per-request timeout in seconds (504 beyond; the work is stopped)."),
    max_request_cpu_s: float = typer.Option(
        3600.0, "--max-request-cpu-s", help="Estimated CPU seconds one request may cost (413 beyond; 0: no limit)."),
    key_cpu_per_minute: float = typer.Option(
        0.0, "--key-cpu-per-minute", help="Estimated CPU seconds per API key (or client) per minute (429 beyond; 0: off)."),
    isolate: bool = typer.Option(
        True, "--isolate/--no-isolate", help="Run media and long text in worker processes with hard limits."),
    worker_timeout: float = typer.Option(600.0, "--worker-timeout", help="Seconds one request may run in a worker (killed beyond)."),
    worker_memory_mb: float = typer.Option(3072.0, "--worker-memory-mb", help="Resident MiB of one worker (killed beyond)."),
    worker_nice: int = typer.Option(
        10, "--worker-nice", help="CPU priority of workers below the server (0: equal; on a shared machine)."),
    max_body_mb: float = typer.Option(64.0, "--max-body-mb", help="Largest JSON body in MiB (413 beyond)."),
    max_upload_mb: float = typer.Option(2048.0, "--max-upload-mb", help="Largest uploaded file in MiB."),
    max_stored_mb: float = typer.Option(
        20480.0, "--max-stored-mb", help="All uploaded files together, in MiB (413 beyond; 0: no limit; Gemini: 20 GB)."),
    file_ttl_hours: float = typer.Option(
        48.0, "--file-ttl-hours", help="Hours an uploaded file is kept, then deleted (0: until deleted; Gemini: 48)."),
    max_parts: int = typer.Option(2048, "--max-parts", help="Parts or requests in one HTTP request (400 beyond)."),
    job_chunk_size: int = typer.Option(16, "--job-chunk-size", help="Batch-job items per engine call and commit."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    speech_language: Optional[str] = typer.Option(None, "--speech-language", help=_SPEECH_LANGUAGE_HELP),
    speech_languages: Optional[str] = typer.Option(None, "--speech-languages", help=_SPEECH_LANGUAGES_HELP),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
) -> None:
    """Serve the Gemini REST (/v1beta) and OpenAI (/v1/embeddings) APIs, with dynamic batching and batch jobs.

    Every option can also be set in the environment as OMNIEMBED_SERVE_<OPTION>, e.g.
    OMNIEMBED_SERVE_HOST=0.0.0.0, OMNIEMBED_SERVE_PORT=9000, OMNIEMBED_SERVE_MAX_BATCH_SIZE=64
    (the API key: OMNIEMBED_API_KEY)."""
    import logging

    try:
        import uvicorn

        from .server.app import ServerConfig, create_app, default_data_dir
        from .server.batching import BatchingConfig
    except ImportError as exc:
        _fail(MissingDependency(f"the server needs its extra: pip install 'omniembed[server]' ({exc})"))
    logging.basicConfig(level=log_level.upper(), format="%(message)s", stream=sys.stderr)
    try:
        asr_options = _speech_options(speech_language, speech_languages)
    except OmniEmbedError as exc:
        _fail(exc)
        return
    config = ServerConfig(
        profile=profile,
        asr_options=asr_options,
        speech_model=str(speech_model) if speech_model else None,
        sound_model=str(sound_model) if sound_model else None,
        api_keys=tuple(api_key or ()),
        data_dir=data_dir or default_data_dir(),
        store=store,
        allow_file_roots=tuple(allow_files or ()),
        model_aliases=tuple(model_alias or ()),
        max_body_bytes=int(max_body_mb * 1024**2),
        max_upload_bytes=int(max_upload_mb * 1024**2),
        max_stored_bytes=int(max_stored_mb * 1024**2),
        file_ttl_s=file_ttl_hours * 3600.0,
        max_parts=max_parts,
        job_chunk_size=job_chunk_size,
        max_request_cpu_s=max_request_cpu_s,
        key_cpu_per_minute=key_cpu_per_minute,
        isolate=isolate,
        worker_timeout_s=worker_timeout,
        worker_memory_bytes=int(worker_memory_mb * 1024**2),
        worker_nice=worker_nice,
        batching=BatchingConfig(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue,
                                workers=workers, request_timeout_s=timeout),
    )
    routers = []
    if store is not None:
        try:  # the search page and API over an index store (omniembed index)
            from .server.search_ui import create_router as _search_router
        except ImportError as exc:
            _fail(MissingDependency(f"--store needs the search page (omniembed.server.search_ui): {exc}"))
            return
        routers.append(lambda services: _search_router(store, services))
    try:
        app_ = create_app(config, extra_routers=routers)
    except OmniEmbedError as exc:
        _fail(exc)
        return
    err_console.print(f"omniembed serving {config.profile} on http://{host}:{port} "
                      f"(Gemini: /v1beta, OpenAI: /v1; data in {config.data_dir})")
    uvicorn.run(app_, host=host, port=port, log_level=log_level.lower(), access_log=False,
                timeout_graceful_shutdown=None)


# --- index · search · cluster · demo (the main job: a folder of mixed media, searchable) -----------
def _print_hits(hits, title: str) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("file")
    table.add_column("type")
    table.add_column("where")
    table.add_column("score", justify="right")
    table.add_column("snippet", overflow="fold", ratio=1)
    for i, h in enumerate(hits, 1):  # Text cells: file names and snippets are never read as markup
        table.add_row(str(i), Text(h.rel_path), h.modality, h.locator, f"{h.score:.3f}", Text(h.snippet[:160]))
    if not hits:
        table.add_row("", "(no results)", "", "", "", "")
    console.print(table)


def _print_index_report(report) -> None:
    msg = (f"[bold]{report.indexed}[/] indexed ({report.new} new, {report.changed} changed), "
           f"{report.unchanged} unchanged, {report.removed} removed, [bold]{len(report.failed)}[/] failed"
           f" in {report.seconds:.1f}s → {report.store}")
    if report.ignored:
        msg += f" ({report.ignored} files of other types ignored)"
    err_console.print(("[yellow]interrupted:[/] run the same command again to resume. " if report.interrupted
                       else "") + msg)
    for o in report.failed:
        err_console.print(f"  [red]failed[/] {escape(o.path)}: {escape(o.reason)}", highlight=False)
    for o in report.skipped:
        err_console.print(f"  [yellow]skipped[/] {escape(o.path)}: {escape(o.reason)}", highlight=False)


@app.command()
def index(
    folder: Path = typer.Argument(..., help="The folder to index (text, Markdown, PDF, images, audio, video)."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help=_STORE_HELP + " Default: .omniembed/store."),
    backend: Optional[str] = typer.Option(None, "--backend", help="lancedb (default) or qdrant, for a new store."),
    dims: Optional[int] = typer.Option(None, "--dims", "-d", help="Vector size, 128..384 (fixed per store)."),
    profile: str = typer.Option("lite", "--profile", "--model-dir", help="Embedding profile, fixed per store: lite, or an image-text model directory (docs/profiles.md)."),
    progress: bool = typer.Option(True, "--progress/--quiet", help="Show progress (a bar on a terminal)."),
    speech_language: Optional[str] = typer.Option(None, "--speech-language", help=_SPEECH_LANGUAGE_HELP),
    speech_languages: Optional[str] = typer.Option(None, "--speech-languages", help=_SPEECH_LANGUAGES_HELP),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
    as_json: bool = typer.Option(False, "--json", help="Print the run's report as JSON on stdout."),
    fine: bool = typer.Option(True, "--fine/--no-fine", help="Also store each sentence or line of longer "
                              "pieces as a search record: better hits and snippets, about twice the text "
                              "encoding (docs/search.md \"Speed\"). Applies to the files embedded in this run."),
    reindex_ann: bool = typer.Option(False, "--reindex-ann", help="Rebuild the vector (ANN) index from scratch "
                                     "after the run (after the archive grew several-fold); see `omniembed status`."),
    ray: Optional[str] = _ray_opt(),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", help="Ray actors embedding (default: the "
                                              "cluster's CPUs / --ray-cpus)."),
    ray_cpus: float = typer.Option(1.0, "--ray-cpus", help="CPUs each Ray actor reserves."),
    ray_paths: bool = typer.Option(False, "--ray-paths", help="Send workers paths, not bytes (the folder is "
                                   "mounted at the same path on every node)."),
) -> None:
    """Index a folder: new and changed files are embedded, unchanged skipped, deleted removed.

    Safe to interrupt (Ctrl-C, kill): run it again and it resumes where it stopped, without duplicates.
    Files that cannot be read are reported and skipped. Every option can also be set in the environment
    as OMNIEMBED_INDEX_<OPTION>, e.g. OMNIEMBED_INDEX_STORE=/data/store."""
    from .embedder import Embedder
    from .indexer import Indexer
    from .store import open_store

    try:
        options = dict(asr_options=_speech_options(speech_language, speech_languages), speech_model=speech_model,
                       sound_model=sound_model)
        st = open_store(store, backend=backend)
        if ray is not None:  # Ray is imported only here (omniembed.distributed), never on the default path
            from .distributed import RayIndexer, disconnect

            indexer = RayIndexer(st, profile, dims=dims, address=ray, workers=ray_workers, num_cpus=ray_cpus,
                                 ship="paths" if ray_paths else "bytes", embedder_options=options, fine=fine)
            # Ray prints cluster events ("A worker died…") on stdout from its own threads: they go to
            # stderr while connected, so stdout stays the report alone (--json)
            with contextlib.redirect_stdout(sys.stderr):
                try:
                    report = indexer.run(folder, console=err_console, progress=progress)
                finally:
                    disconnect()
        else:
            report = Indexer(st, Embedder(profile, **options), dims=dims, fine=fine).run(
                folder, console=err_console, progress=progress)
        if reindex_ann:
            with err_console.status("rebuilding the vector index"):
                st.optimize(reindex_ann=True)
    except OmniEmbedError as exc:
        _fail(exc)
    if as_json:
        json.dump(index_report_json(report), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        _print_index_report(report)
    if report.interrupted:
        raise typer.Exit(ExitCode.INTERRUPTED)


def index_report_json(report) -> dict:
    """``omniembed index --json``: the counts, per-modality throughput and every failure, for scripts."""
    import dataclasses

    return {
        "root": report.root, "store": report.store, "seconds": round(report.seconds, 3),
        "interrupted": report.interrupted, "indexed": report.indexed, "new": report.new,
        "changed": report.changed, "unchanged": report.unchanged, "removed": report.removed,
        "ignored": report.ignored, "worker_retries": report.worker_retries,
        "failed": [dataclasses.asdict(o) for o in report.failed],
        "by_modality": report.by_modality(),
        "files": [dataclasses.asdict(o) for o in report.outcomes if o.status != "unchanged"],
    }


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="What to look for, in any language."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help=_STORE_HELP),
    k: int = typer.Option(10, "-k", "--top", help="How many results."),
    type_: Optional[List[str]] = typer.Option(None, "--type", "-t", help="Only pdf, image, audio, video or text (repeatable)."),
    image: Optional[Path] = typer.Option(None, "--image", help="Query by an image (its text in lite; the picture itself in an image-text profile)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Query by a recording (what is said; with --sound-model also what it sounds like)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Query by any file (PDF, video, text...)."),
    chunks: bool = typer.Option(False, "--chunks", help="List matching passages (several per file) instead of files."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON hits."),
    mode: Optional[str] = typer.Option(None, "--mode", "-m", help="dense (vectors), keyword (BM25 on the text: "
                                       "exact names, codes, numbers) or hybrid (both, fused). Default: hybrid."),
    keyword_weight: float = typer.Option(1.0, "--keyword-weight", help="Weight of the keyword list in hybrid "
                                         "fusion (the dense list weighs 1)."),
    profile: Optional[str] = typer.Option(None, "--profile", "--model-dir", help="The store's profile (default: the one it "
                                          "records); a model-directory profile needs its directory here."),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
) -> None:
    """Search an indexed folder; hits point into the media (PDF page, start-end seconds).

    A store indexed with --sound-model is searched with the same --sound-model (its profile id names the
    model; the directory is needed to embed audio queries)."""
    from .search import Searcher

    given = [q for q in (query, image, audio, file) if q is not None]
    if len(given) != 1:
        _usage("give exactly one of: QUERY text, --image PATH, --audio PATH or --file PATH")
    q = given[0] if isinstance(given[0], str) else Path(given[0])
    try:
        searcher = Searcher(store, embedder=_store_embedder(store, profile, speech_model, sound_model), profile=profile)
        hits = searcher.search(q, k=k, modalities=type_, chunks=chunks, mode=mode, weights=(1.0, keyword_weight))
    except OmniEmbedError as exc:
        _fail(exc)
        return
    if as_json:
        json.dump([h.to_dict() for h in hits], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    _print_hits(hits, f"{q if isinstance(q, str) else q.name}")


def _store_embedder(store, profile: Optional[str], speech_model: Optional[Path], sound_model: Optional[Path]):
    """An Embedder of the store's profile (or ``profile``, e.g. a model directory) with these audio models,
    or None (the Searcher then builds the profile as is)."""
    if speech_model is None and sound_model is None:
        return None
    from .embedder import Embedder

    if profile is None:  # the store records its profile; open it only to read that
        from .hearing import base_profile_id
        from .store import open_store

        st = open_store(store)
        try:
            profile = base_profile_id(st.require_info().profile)
        finally:
            st.close()
    return Embedder(profile, speech_model=speech_model, sound_model=sound_model)


@app.command()
def status(
    store: Optional[str] = typer.Option(None, "--store", "-s", help=_STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a store's profile, record counts and indexes (vector, full-text, scalar) and their coverage."""
    from .store import open_store

    try:
        st = open_store(store)
        info = st.require_info()
        state = {"location": info.location, "backend": info.backend, "profile": info.profile, "dims": info.dims,
                 **st.index_status()}
        st.close()
    except OmniEmbedError as exc:
        _fail(exc)
        return
    if as_json:
        json.dump(state, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return
    console.print(f"{state['location']} ({state['backend']}, {state['profile']} at {state['dims']} dims): "
                  f"{state['files']} files, {state['chunks']} chunks", highlight=False)
    table = Table(title="indexes", title_justify="left")
    for col in ("index", "column", "type", "indexed rows", "not yet indexed"):
        table.add_column(col)
    for ix in state["indexes"]:
        table.add_row(ix["name"], ix["column"], ix["type"], str(ix.get("indexed_rows", "")),
                      str(ix.get("unindexed_rows", "")))
    if not any(ix["column"] == "vector" for ix in state["indexes"]):
        table.add_row("(vector)", "vector", "none: exact scan", "", f"built at {state.get('ann_min_rows', '-')} records")
    console.print(table)


@app.command()
def cluster(
    store: Optional[str] = typer.Option(None, "--store", "-s", help=_STORE_HELP),
    k: Optional[int] = typer.Option(None, "-k", help="Number of groups (default: about sqrt(files/2))."),
    type_: Optional[List[str]] = typer.Option(None, "--type", "-t", help="Only these types (repeatable)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated labels: classify files zero-shot instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    profile: Optional[str] = typer.Option(None, "--profile", "--model-dir", help="The store's profile (default: the one it "
                                          "records); a model-directory profile needs its directory here."),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
) -> None:
    """Group the indexed files and name the groups from their snippets (or classify with --labels)."""
    import dataclasses

    from .cluster import classify_vectors, cluster_store
    from .search import Searcher

    try:
        searcher = Searcher(store, embedder=_store_embedder(store, profile, speech_model, sound_model), profile=profile)
        if labels:
            names = [x.strip() for x in labels.split(",") if x.strip()]
            files = [r for r in searcher.store.records("file") if not type_ or r.modality in type_]
            if len(names) < 2 or not files:
                raise OmniEmbedError("--labels needs at least two labels and an indexed file")
            import numpy as np

            lv = np.stack([searcher.embed_query(n) for n in names])
            res = classify_vectors(np.stack([r.vector for r in files]), lv, names)
            rows = [{"file": r.path, "modality": r.modality, **dataclasses.asdict(c)} for r, c in zip(files, res)]
            if as_json:
                json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
                sys.stdout.write("\n")
                return
            table = Table(title="zero-shot labels")
            for col in ("file", "type", "label", "probability"):
                table.add_column(col)
            for r in sorted(rows, key=lambda r: (r["label"], r["file"])):
                table.add_row(Text(r["file"]), r["modality"], Text(r["label"]), f"{r['probability']:.2f}")
            console.print(table)
            return
        groups = cluster_store(searcher.store, k=k, modalities=type_)
    except OmniEmbedError as exc:
        _fail(exc)
        return
    if as_json:
        json.dump([dataclasses.asdict(g) for g in groups], sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return
    for g in groups:
        kinds = ", ".join(f"{n} {m}" for m, n in sorted(g.modalities.items()))
        console.print(f"[bold]group {g.id + 1}[/] · {escape(g.label)}  [dim]({g.size} files: {kinds})[/]")
        for name, score in zip(g.members, g.scores):
            console.print(f"    {escape(name)}  [dim]{score:.3f}[/]", highlight=False)


models_app = typer.Typer(help="Image-text models for --profile: list what is installed, pull a known one.",
                          no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Model directories installed in the models home (OMNIEMBED_MODELS_DIR), and the known models."""
    from .models import KNOWN, installed, models_home

    found = installed()
    if as_json:
        json.dump({"home": str(models_home()), "installed": found,
                   "known": [{"name": m.name, "repo": m.repo, "family": m.family, "licence": m.licence}
                             for m in KNOWN.values()]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    table = Table(title=f"installed in {models_home()}")
    for col in ("name", "profile", "dims", "size"):
        table.add_column(col)
    for m in found:
        table.add_row(m["name"], m["profile"] or f"[red]{m['error']}[/red]",
                      f"{m['min_dims']}-{m['dims']}" if m["ok"] else "", f"{m['bytes'] / 1e6:,.0f} MB")
    console.print(table)
    known = Table(title="known models (omniembed models pull NAME)")
    for col in ("name", "family", "licence", "hub repository"):
        known.add_column(col)
    for m in KNOWN.values():
        known.add_row(m.name, m.family, m.licence, m.repo)
    console.print(known)


@models_app.command("pull")
def models_pull(name: str = typer.Argument(..., help="A known model's name (see omniembed models list).")) -> None:
    """Fetch a known model once (needs huggingface_hub and a reachable hub; embedding never downloads)."""
    from .models import pull

    try:
        dest = pull(name)
    except OmniEmbedError as exc:
        _fail(exc)
    console.print(f"installed {name} in {dest}; use --profile {name}")


@app.command()
def demo(
    samples: Optional[Path] = typer.Option(None, "--samples", help="Folder to index (default: the bundled samples/)."),
    store: str = typer.Option(".omniembed/demo-store", "--store", "-s", help=_STORE_HELP),
) -> None:
    """The main job on the bundled samples: index a folder of mixed media, then search it."""
    from .demo import run_demo

    try:
        run_demo(samples, store, console=console, err_console=err_console,
                 print_hits=_print_hits, print_report=_print_index_report)
    except OmniEmbedError as exc:
        _fail(exc)


@app.command()
def transcribe(
    files: List[Path] = typer.Argument(..., help="Audio or video files (any format ffmpeg reads)."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Spoken language (ISO code); default: detect."),
    languages: Optional[str] = typer.Option(None, "--languages", help="Restrict detection, e.g. en,de,fr."),
    translate: bool = typer.Option(False, "--translate", help="Whisper's English translation instead of a transcript."),
    beam: int = typer.Option(5, "--beam", help="Beam size: 5 = Whisper's default beam search, 1 = greedy (faster)."),
    hedge: bool = typer.Option(
        True, "--hedge/--no-hedge",
        help="When language identification is unsure, also read the speech in the next most probable "
        "language and keep both readings (the default); --no-hedge trusts identification.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    speech_model: Optional[Path] = _speech_model_opt(),
    sound_model: Optional[Path] = _sound_model_opt(),
) -> None:
    """Show what the lite profile hears and reads in audio/video: timestamped windows, language, OCR
    (and, with --sound-model, what it sounds like)."""
    from .evidence import MediaContext
    from .media import extract
    from .media.source import Limits, MediaSource

    try:
        opts = _speech_options(language, languages, beam_size=beam, lid_candidates=2 if hedge else 1,
                               task="translate" if translate else "transcribe")
        encoders = None
        if speech_model is not None or sound_model is not None:
            from .hearing import with_audio

            encoders = with_audio("lite", speech_model=speech_model, sound_model=sound_model).load_encoders()
    except OmniEmbedError as exc:
        _fail(exc)
        return
    out = []
    for f in files:
        try:
            src = MediaSource.from_path(f, None, Limits())
            with console.status(f"reading {f.name}…") as status:
                ctx = MediaContext(limits=Limits(), asr_options=opts, progress=lambda m: status.update(m),
                                   encoders=encoders)
                ev = extract(src, ctx)
        except OmniEmbedError as exc:
            _fail(exc)
            return
        rows = [
            {"start_s": s.start_s, "end_s": s.end_s, "source": s.source, "language": s.language, "text": s.text}
            for s in ev.segments
        ]
        out.append({"file": str(f), "modality": ev.modality, "flags": sorted(ev.flags), "notes": ev.notes, "segments": rows})
        if not as_json:
            table = Table(title=Text(f"{f.name} ({ev.modality})"), show_lines=True)
            for col in ("start", "end", "source", "lang", "text"):
                table.add_column(col)
            for r in rows:
                table.add_row(
                    f"{r['start_s']:.1f}" if r["start_s"] is not None else "",
                    f"{r['end_s']:.1f}" if r["end_s"] is not None else "",
                    r["source"], r["language"] or "", Text(r["text"]),
                )
            console.print(table)
            for note in ev.notes:
                console.print(Text(note, style="dim"), highlight=False)
    if as_json:
        json.dump(out, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")


def main() -> None:
    """The console entry point: options from ``OMNIEMBED_<COMMAND>_<OPTION>``, and every failure that
    escaped a command mapped to its :class:`ExitCode` with a one-line message instead of a traceback."""
    try:
        app(args=_optional_values(sys.argv[1:]), auto_envvar_prefix=ENV_PREFIX, prog_name="omniembed")
    except KeyboardInterrupt:
        _print_error("interrupted", "stopped")
        sys.exit(ExitCode.INTERRUPTED)
    except (OmniEmbedError, ImportError) as exc:
        _print_error(str(exc) if isinstance(exc, OmniEmbedError) else
                     f"a dependency is missing ({exc}); install omniembed with its extras, e.g. "
                     "pip install 'omniembed[all]'")
        sys.exit(exit_code(exc))
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if os.environ.get("OMNIEMBED_DEBUG"):
            raise
        _print_error(f"{type(exc).__name__}: {exc} (this is a bug in omniembed; OMNIEMBED_DEBUG=1 shows the "
                     "traceback)", "internal error")
        sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":
    main()
