"""Text: task types, Gemini prefixes, titles, long-text chunking, Matryoshka sizes, norms."""

from __future__ import annotations

import numpy as np
import pytest

from omniembed import Part, TaskType
from omniembed.errors import InvalidInput
from omniembed.media.text import chunk_text, split_sentences
from omniembed.space import encoder_mode, parse_task_prefix

DOCS = [
    "The compressor makes a rattling noise when the fridge starts cooling.",
    "Quarterly revenue grew by twelve percent thanks to strong sales in Asia.",
    "Der Zug nach Berlin fährt um acht Uhr vom Hauptbahnhof ab.",
    "猫はソファの上で一日中眠っています。",
]


def test_rows_are_unit_norm_float32_and_one_per_content(embedder):
    v = embedder.embed(DOCS)
    assert v.shape == (4, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_cross_lingual_retrieval(embedder):
    docs = embedder.embed(DOCS)
    queries = [
        "why is my refrigerator making noise",
        "how much did sales increase",
        "when does the train to Berlin leave",
        "where does the cat sleep",
    ]
    q = embedder.embed(queries, task_type="RETRIEVAL_QUERY")
    assert list((q @ docs.T).argmax(1)) == [0, 1, 2, 3]


@pytest.mark.parametrize("dims", [128, 200, 256, 384])
def test_matryoshka_sizes_are_unit_norm_and_keep_ranking(embedder, dims):
    docs = embedder.embed(DOCS, output_dimensionality=dims)
    q = embedder.embed("the cat is asleep on the couch", task_type="RETRIEVAL_QUERY", output_dimensionality=dims)
    assert docs.shape == (4, dims) and q.shape == (1, dims)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert int((q @ docs.T).argmax()) == 3


def test_truncated_vector_is_a_renormalised_prefix(embedder):
    full = embedder.embed(DOCS[0])[0]
    small = embedder.embed(DOCS[0], output_dimensionality=128)[0]
    np.testing.assert_allclose(small, full[:128] / np.linalg.norm(full[:128]), atol=1e-5)


@pytest.mark.parametrize("dims", [0, 64, 127, 385, 3072, -1, 1.5, "256"])
def test_dimensionality_out_of_range_is_a_clear_error(embedder, dims):
    with pytest.raises(InvalidInput, match="output_dimensionality"):
        embedder.embed("hello", output_dimensionality=dims)


def test_all_eight_task_types_map_to_e5_prefixes(embedder):
    for t in TaskType:
        expected = "passage" if t is TaskType.RETRIEVAL_DOCUMENT else "query"
        assert encoder_mode(t) == expected
        v = embedder.embed("a sentence", task_type=t.value.lower())
        assert v.shape == (1, 384)
    q = embedder.embed("a sentence", task_type="RETRIEVAL_QUERY")
    d = embedder.embed("a sentence", task_type="RETRIEVAL_DOCUMENT")
    s = embedder.embed("a sentence", task_type="SEMANTIC_SIMILARITY")
    assert not np.allclose(q, d)  # different prefixes
    np.testing.assert_allclose(q, s, atol=1e-6)  # symmetric tasks use "query: " like e5 was trained


def test_unknown_task_type(embedder):
    with pytest.raises(InvalidInput, match="unknown task type 'SEARCH'.*RETRIEVAL_QUERY"):
        embedder.embed("x", task_type="SEARCH")


def test_gemini_text_prefixes_are_recognised(embedder):
    assert parse_task_prefix("task: search result | query: where is x") == (TaskType.RETRIEVAL_QUERY, None, "where is x")
    assert parse_task_prefix("title: Intro | text: body") == (TaskType.RETRIEVAL_DOCUMENT, "Intro", "body")
    assert parse_task_prefix("title: none | text: body") == (TaskType.RETRIEVAL_DOCUMENT, None, "body")
    assert parse_task_prefix("task: question answering | query: why")[0] is TaskType.QUESTION_ANSWERING
    assert parse_task_prefix("plain | text")[0] is None
    # the prefixed text embeds exactly like the bare text with the matching task type
    a = embedder.embed("task: search result | query: where is the station", task_type="RETRIEVAL_DOCUMENT")
    b = embedder.embed("where is the station", task_type="RETRIEVAL_QUERY")
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = embedder.embed("title: Trains | text: the station is north", task_type="RETRIEVAL_QUERY")
    d = embedder.embed("the station is north", title="Trains", task_type="RETRIEVAL_DOCUMENT")
    np.testing.assert_allclose(c, d, atol=1e-6)


def test_title_changes_document_vectors_only(embedder):
    plain = embedder.embed("It runs every hour.")
    titled = embedder.embed("It runs every hour.", title="Airport shuttle bus")
    assert not np.allclose(plain, titled)
    q = embedder.embed("airport shuttle", task_type="RETRIEVAL_QUERY")
    assert (q @ titled.T).item() > (q @ plain.T).item()
    # a query has no title: e5 only saw titles on passages
    q_titled = embedder.embed("airport shuttle", task_type="RETRIEVAL_QUERY", title="ignored")
    np.testing.assert_allclose(q, q_titled, atol=1e-6)


def _long_text(paragraphs: int, ending: str) -> str:
    filler = " ".join(
        f"Paragraph {i} talks about gardening, soil, tomatoes and watering schedules in summer."
        for i in range(paragraphs)
    )
    return filler + " " + ending


NEEDLE = "The secret launch code for the orbital telescope is written in red ink."
NO_NEEDLE = "Nothing else to add here at all, really."


def test_long_text_is_chunked_never_truncated(dummy_embedder):
    """Chunking and pooling beyond Gemini's 8,192-token limit: the engine's arithmetic, not the model's
    numbers, so the dummy profile runs it (its token is a word, its window e5's 512; e5 spent ~36 s
    here on two 8,400-token texts). The real model's side is the next test."""
    text = _long_text(700, NEEDLE)
    assert dummy_embedder.engine.text_encoder.token_count(text) > 8192
    [res] = dummy_embedder.embed_detailed(text)
    assert len(res.pieces) > 16
    assert res.token_count > 8192
    assert all(p.token_count <= 512 for p in res.pieces)
    assert any("orbital telescope" in p.text for p in res.pieces)
    assert "Paragraph 0 " in res.pieces[0].text and "Paragraph 699 " in res.pieces[-1].text  # nothing dropped
    # the content vector depends on the end of the text (it was not cut at 512 tokens)
    [without] = dummy_embedder.embed_detailed(_long_text(700, NO_NEEDLE))
    assert not np.allclose(res.vector, without.vector, atol=1e-4)


def test_long_text_needle_is_found_by_meaning(embedder):
    """The real model on a text several windows long (~1,300 e5 tokens, 3 windows): a paraphrased query finds the
    last sentence through its piece, and the content vector still reflects that end."""
    text = _long_text(60, NEEDLE)
    assert embedder.engine.text_encoder.token_count(text) > 2 * 512
    [res] = embedder.embed_detailed(text)
    assert len(res.pieces) >= 3
    q = embedder.embed("launch code of the space telescope", task_type="RETRIEVAL_QUERY")[0]
    best = max(res.pieces, key=lambda p: float(p.vector @ q))
    assert "orbital telescope" in best.text
    [without] = embedder.embed_detailed(_long_text(60, NO_NEEDLE))
    assert not np.allclose(res.vector, without.vector, atol=1e-4)


def test_chunker_respects_the_window_and_overlaps():
    count = lambda s: len(s.split())  # noqa: E731 - a word "tokenizer" makes the arithmetic visible
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = chunk_text(text, count, max_tokens=30)
    assert all(c.tokens <= 30 for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for i in range(60):
        assert f"number {i} " in joined
    assert chunks[0].text.split(". ")[-1] in chunks[1].text  # one sentence of overlap


def test_chunker_cuts_overlong_sentences_without_spaces():
    count = len
    text = "あ" * 1000
    chunks = chunk_text(text, count, max_tokens=100)
    assert "".join(c.text for c in chunks) == text
    assert all(c.tokens <= 100 for c in chunks)


def test_sentence_split_handles_cjk_and_latin():
    assert split_sentences("Hello there. How are you? 今日は晴れ。明日は雨！") == [
        "Hello there.",
        "How are you?",
        "今日は晴れ。",
        "明日は雨！",
    ]


def test_sentence_split_keeps_abbreviations_initials_and_dates():
    text = ("Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3. They discussed e.g. the budget, cf. Fig. 2 in the "
            "report. Am 3. Mai 2024 kam er nach Berlin. Er wohnte in der Hauptstr. 5 bei Prof. Müller. Das ist "
            "z. B. gut. Was nun? Alles klar!")
    assert split_sentences(text) == [
        "Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3.",
        "They discussed e.g. the budget, cf. Fig. 2 in the report.",
        "Am 3. Mai 2024 kam er nach Berlin.",
        "Er wohnte in der Hauptstr. 5 bei Prof. Müller.",
        "Das ist z. B. gut.",
        "Was nun?",
        "Alles klar!",
    ]
    # real sentence ends stay ends, and a paragraph break always ends a sentence
    assert split_sentences("We grew by 3. Then it fell.\n\nnext paragraph.") == [
        "We grew by 3.", "Then it fell.", "next paragraph."]


def test_empty_inputs_are_errors(embedder):
    with pytest.raises(InvalidInput, match="empty"):
        embedder.embed([])
    with pytest.raises(InvalidInput, match="empty text"):
        embedder.embed("   ")
    with pytest.raises(InvalidInput):
        embedder.embed([[]])
    with pytest.raises(InvalidInput, match="cannot embed a int"):
        embedder.embed([42])


def test_part_holds_exactly_one_thing():
    with pytest.raises(InvalidInput, match="exactly one"):
        Part()
    with pytest.raises(InvalidInput, match="exactly one"):
        Part(text="a", file_data=None, inline_data=Part.from_bytes(b"x").inline_data)
