"""Splitting replies to platform limits."""

from __future__ import annotations

import random

import pytest

from bot.delivery.splitting import split_text, utf16_length


def test_short_text_is_one_piece() -> None:
    assert split_text("hello", 4096) == ["hello"]
    assert split_text("", 4096) == [""]


def test_prefers_paragraph_then_line_then_word() -> None:
    text = "a" * 50 + "\n\n" + "b" * 30 + "\n" + "c" * 10 + " " + "d" * 10
    assert split_text(text, 60) == ["a" * 50 + "\n\n", "b" * 30 + "\n" + "c" * 10 + " " + "d" * 10]
    assert split_text("b" * 30 + "\n" + "c" * 40, 60) == ["b" * 30 + "\n", "c" * 40]
    assert split_text("word " * 20, 23) == ["word word word word ", *(["word word word word "] * 4)]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_ten_thousand_characters_in_three_telegram_messages() -> None:
    words = random.Random(7).choices(["lorem", "ipsum", "dolor", "sit\n", "amet\n\n"], k=3000)
    text = " ".join(words)[:10_000]
    pieces = split_text(text, 4096, utf16_length)
    assert len(pieces) == 3 and "".join(pieces) == text
    assert all(utf16_length(p) <= 4096 for p in pieces)


@pytest.mark.parametrize("limit", [2, 3, 5, 4096])
def test_astral_characters_are_never_cut(limit: int) -> None:
    text = "🙂" * 3000 + "é" * 10
    pieces = split_text(text, limit, utf16_length)
    assert "".join(pieces) == text
    assert all(0 < utf16_length(p) <= limit for p in pieces)
