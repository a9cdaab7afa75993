#!/usr/bin/env python3
"""Build the bundled sample folder ``samples/``: a small, licence-clean folder of mixed media.

Everything is generated here, from text written for this project (public domain, CC0), with tools
installed on Debian: PDFs with reportlab, slides and screenshots with Pillow (DejaVu fonts), speech with
espeak-ng, videos with ffmpeg (a slide as the picture, espeak-ng narration as the sound). The story is
one small engineering team: a compressor that got noisy, a delayed solar-panel delivery, a database
outage, a safety procedure — so that ``omniembed demo`` can show cross-modal and multilingual search.

    python scripts/make_samples.py            # (re)build samples/ in the repository
    python scripts/make_samples.py --out DIR  # somewhere else

The outputs are deterministic for the same tool versions (reportlab invariant mode, ffmpeg bitexact).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# --- the content (written for this project; CC0) ----------------------------------------------------
MANUAL = [
    ("Air compressor AC-200: maintenance manual", [
        "This manual covers the AC-200 screw compressor installed in building two.",
        "Read the safety checklist before opening any panel. Only trained staff may service the unit.",
        "Daily: check the oil level through the sight glass and drain condensate from the tank.",
        "Weekly: inspect the intake filter and clean it with compressed air from the inside out.",
    ]),
    ("Noise and vibration", [
        "A healthy AC-200 runs at about 68 dB at one metre. A rattling or grinding noise is not normal.",
        "A rattling noise that rises with load usually means a loose mounting bolt or a worn motor bearing.",
        "A high-pitched whine points to a slipping drive belt: check the belt tension and replace a glazed belt.",
        "Record the noise with a phone and log the date before you call the service team.",
    ]),
    ("Replacing the motor bearing", [
        "Lock out and tag out the main switch, then release all pressure from the tank.",
        "Remove the fan guard and the coupling. Pull the old bearing with a bearing puller.",
        "Heat the new bearing to 80 degrees Celsius and slide it onto the shaft. Never hammer a bearing.",
        "Run the compressor for ten minutes without load and listen for any remaining noise.",
    ]),
]

REPORT_DE = [
    ("Quartalsbericht Einkauf, zweites Quartal", [
        "Die Lieferung der Solarmodule für das Dach von Halle drei verzögert sich um sechs Wochen.",
        "Grund ist ein Engpass bei den Wechselrichtern unseres Lieferanten in Spanien.",
        "Die Kosten für Stahl und Kupfer sind im Vergleich zum Vorquartal um acht Prozent gestiegen.",
        "Wir empfehlen, für kritische Ersatzteile wie Lager und Keilriemen einen zweiten Lieferanten zu suchen.",
    ]),
]

CHECKLIST = [
    ("Safety checklist: lockout/tagout", [
        "1. Tell everyone in the area that maintenance is starting.",
        "2. Switch off the machine and open the main isolator.",
        "3. Put your personal padlock and a signed tag on the isolator.",
        "4. Try to start the machine to prove that it is dead.",
        "5. Release stored energy: pressure, springs, capacitors.",
        "6. Only the person who placed the lock may remove it.",
    ]),
]

SLIDES = {
    "slide-roadmap.png": ("Roadmap 2025", [
        "Q1  Rooftop solar on hall three",
        "Q2  Replace compressor AC-200 bearings",
        "Q3  Heat recovery from compressed air",
        "Q4  Energy dashboard for all buildings",
    ]),
    "slide-energy.png": ("Energy use per building (MWh)", [
        "Building one      412",
        "Building two      655   (compressors: 61 %)",
        "Hall three        230",
        "Target for 2025: minus 15 percent",
    ]),
}

SCREENSHOT = ("terminal — ops@db-01", [
    "$ systemctl status postgresql",
    "postgresql.service - PostgreSQL database server",
    "   Active: failed (Result: exit-code)",
    "FATAL: could not connect to server: Connection refused",
    "   Is the server running on host db-01 and accepting",
    "   TCP/IP connections on port 5432?",
    "$ df -h /var/lib/postgresql",
    "/dev/sdb1   200G  200G     0 100% /var/lib/postgresql",
])

SPEECH = {
    # name: (voice, text)
    "standup-monday.mp3": ("en-us", "Monday stand-up. First item: the compressor in building two is making a "
                           "rattling noise again. Maria thinks the motor bearing is worn and will replace it on "
                           "Friday. Second item: the database server ran out of disk space last night."),
    "voicemail-pierre.mp3": ("fr-fr", "Bonjour, c'est Pierre du service achats. La livraison des panneaux "
                             "solaires est encore repoussée de six semaines, à cause des onduleurs. Rappelle-moi."),
    "nota-de-voz-es.mp3": ("es", "Nota para el equipo: el filtro de aire del compresor está muy sucio. "
                           "Hay que limpiarlo cada semana."),
}

VIDEOS = {
    # name: (slide title, slide lines, voice, narration)
    "training-lockout.mp4": ("Lockout / tagout in five steps", [
        "1  Announce the shutdown", "2  Isolate the energy source", "3  Lock and tag the isolator",
        "4  Prove the machine is dead", "5  Release stored pressure",
    ], "en-us", "Before anyone opens the compressor, lock out and tag out the main switch and release the pressure."),
    "site-visit-hall3.mp4": ("Hall three: rooftop survey", [
        "Roof area: 1 800 square metres", "Planned panels: 640", "Expected output: 260 MWh per year",
    ], "de", "Hier auf dem Dach von Halle drei sollen bald sechshundertvierzig Solarmodule montiert werden."),
}

NOTES = {
    "notes/retro-2025-05.md": "# Retrospective, May\n\n"
    "## What went well\n- The solar roof project got its budget approved.\n- New on-call rota works.\n\n"
    "## What went badly\n- The database outage: the disk on db-01 filled up with old WAL files.\n"
    "- Nobody owned the alert, so it took three hours to notice.\n\n"
    "## Actions\n- Add a disk-usage alert at 80 percent.\n- Write a runbook for PostgreSQL recovery.\n",
    "notes/ideas.txt": "Ideas for saving energy\n\n"
    "Recover the heat from the compressors to warm the workshop in winter.\n"
    "Switch off the compressors at night and on weekends; fix the air leaks first.\n"
    "Put motion sensors on the lights in the store rooms.\n",
}


def _font(size: int, bold: bool = False, mono: bool = False):
    from PIL import ImageFont

    name = "DejaVuSansMono.ttf" if mono else ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(FONT_DIR / name), size)


def make_pdf(path: Path, pages: list[tuple[str, list[str]]]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(pages[0][0])
    c.setAuthor("omniembed samples (CC0)")
    w, h = A4
    for n, (title, paras) in enumerate(pages, 1):
        c.setFont("Helvetica-Bold", 17)
        c.drawString(60, h - 80, title)
        c.setFont("Helvetica", 11)
        y = h - 120
        for para in paras:
            line = ""
            for word in para.split():  # naive wrap at ~88 characters
                if len(line) + len(word) + 1 > 88:
                    c.drawString(60, y, line)
                    y -= 16
                    line = word
                else:
                    line = f"{line} {word}".strip()
            c.drawString(60, y, line)
            y -= 26
        c.setFont("Helvetica", 9)
        c.drawString(w / 2 - 20, 40, f"page {n}")
        c.showPage()
    c.save()


def make_slide(path: Path | None, title: str, lines: list[str], size=(1280, 720)):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (250, 250, 247))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, size[0], 110], fill=(31, 58, 125))
    d.text((60, 30), title, font=_font(48, bold=True), fill=(255, 255, 255))
    y = 170
    for line in lines:
        d.text((80, y), line, font=_font(38), fill=(30, 30, 30))
        y += 80
    if path is not None:
        img.save(path, optimize=True)
    return img


def make_screenshot(path: Path, title: str, lines: list[str]) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1100, 520), (24, 26, 31))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 1100, 40], fill=(55, 58, 66))
    for i, col in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        d.ellipse([14 + i * 24, 12, 30 + i * 24, 28], fill=col)
    d.text((120, 9), title, font=_font(18), fill=(220, 220, 220))
    y = 70
    for line in lines:
        color = (255, 120, 110) if ("FATAL" in line or "failed" in line or "100%" in line) else (225, 228, 232)
        d.text((24, y), line, font=_font(24, mono=True), fill=color)
        y += 52
    img.save(path, optimize=True)


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def speak(wav: Path, voice: str, text: str) -> None:
    _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text])


def make_mp3(path: Path, voice: str, text: str, tmp: Path) -> None:
    wav = tmp / (path.stem + ".wav")
    speak(wav, voice, text)
    _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), "-ac", "1", "-ar", "16000",
          "-c:a", "libmp3lame", "-b:a", "32k", "-map_metadata", "-1", "-fflags", "+bitexact", str(path)])


def make_video(path: Path, title: str, lines: list[str], voice: str, text: str, tmp: Path) -> None:
    png = tmp / (path.stem + ".png")
    make_slide(png, title, lines)
    wav = tmp / (path.stem + ".wav")
    speak(wav, voice, text)
    _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-loop", "1", "-framerate", "5", "-i", str(png),
          "-i", str(wav), "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage",
          "-crf", "30", "-pix_fmt", "yuv420p", "-x264-params", "threads=1", "-c:a", "aac", "-b:a", "32k",
          "-ac", "1", "-ar", "16000", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags", "+bitexact",
          "-movflags", "+faststart", str(path)])


def build(out: Path) -> list[Path]:
    for tool in ("espeak-ng", "ffmpeg"):
        if not shutil.which(tool):
            raise SystemExit(f"make_samples: {tool} is not installed (run scripts/setup.sh)")
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="omniembed-samples-") as t:
        tmp = Path(t)
        for name, pages in (("compressor-manual.pdf", MANUAL), ("quartalsbericht-einkauf.pdf", REPORT_DE),
                            ("safety-checklist.pdf", CHECKLIST)):
            make_pdf(out / name, pages)
            made.append(out / name)
        for name, (title, lines) in SLIDES.items():
            make_slide(out / name, title, lines)
            made.append(out / name)
        make_screenshot(out / "screenshot-db-error.png", *SCREENSHOT)
        made.append(out / "screenshot-db-error.png")
        for name, (voice, text) in SPEECH.items():
            make_mp3(out / name, voice, text, tmp)
            made.append(out / name)
        for name, (title, lines, voice, text) in VIDEOS.items():
            make_video(out / name, title, lines, voice, text, tmp)
            made.append(out / name)
        for name, text in NOTES.items():
            p = out / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, "utf-8")
            made.append(p)
    (out / "README.md").write_text(
        "# omniembed sample folder\n\nGenerated by `scripts/make_samples.py` from text written for omniembed "
        "(CC0): PDFs (reportlab), slides and a screenshot (Pillow, DejaVu fonts), speech (espeak-ng) and short "
        "videos (ffmpeg). `omniembed demo` indexes this folder and searches it.\n", "utf-8")
    return made


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the omniembed sample folder.")
    ap.add_argument("--out", type=Path, default=ROOT / "samples")
    args = ap.parse_args(argv)
    made = build(args.out)
    total = sum(p.stat().st_size for p in made)
    for p in made:
        print(f"{p.stat().st_size / 1024:7.1f} KB  {p.relative_to(args.out)}")
    print(f"{len(made)} files, {total / 1024:.0f} KB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
