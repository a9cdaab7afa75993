"""Shared data and helpers of the framework-integration tests (tests/test_integrations_*.py).

A tiny corpus with one clearly right answer per query (one query in German, to show cross-lingual
search) and images whose only content is printed text (the lite profile reads them with OCR). The
server tests start ``omniembed serve`` with tests/server_harness.py.
"""

from __future__ import annotations

import numpy as np

from media_factory import image_bytes, text_image

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.",
    "Bananas are a good source of potassium, vitamin B6 and dietary fibre.",
    "Python is a programming language whose design emphasises code readability.",
    "The Great Barrier Reef off the coast of Queensland, Australia, is the largest coral reef system.",
]

#: (query, index of the document that must rank first)
QUERIES = [
    ("Which landmark stands in Paris?", 0),
    ("what fruit contains potassium", 1),
    ("Wo liegt das größte Korallenriff der Welt?", 3),
]

#: Printed text on a plain background: what each synthetic image "shows" to the lite profile.
IMAGE_TEXTS = [
    "INVOICE\nTotal due: 420 EUR\nPay by bank transfer",
    "BOARDING PASS\nFlight LH 123 to Tokyo\nGate 7",
]
IMAGE_QUERIES = [("how much money do I owe on the invoice", 0), ("which gate does my flight to Tokyo leave from", 1)]


def _text_image(text: str):
    # small on purpose: OCR time grows with pixels
    return text_image(text.split("\n"), size=(420, 150), font_size=22)


def text_image_array(text: str) -> np.ndarray:
    """An RGB uint8 array (H×W×3) with ``text`` printed in black on white."""
    return np.asarray(_text_image(text))


def text_image_png(text: str) -> bytes:
    return image_bytes(_text_image(text), "PNG")


def rank(query_vec, doc_vecs) -> list[int]:
    """Document indices by descending cosine similarity."""
    q = np.asarray(query_vec, dtype=np.float32)
    d = np.asarray(doc_vecs, dtype=np.float32)
    scores = d @ q / (np.linalg.norm(d, axis=1) * np.linalg.norm(q))
    return list(np.argsort(-scores))
