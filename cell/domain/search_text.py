"""How message text becomes search words, and where those words are in the text (pure).

The cell's PostgreSQL tokenises stored messages itself (``cellchat_search_text`` in
migration ``0005_search``): a generated column, so that every writer, replication
included, keeps it right. The rules, which this module mirrors for highlighting:

- NFKC first (fullwidth letters and digits are ASCII ones), then lower case (ASCII, and the
  letters of ``LOWER_FROM`` for Latin, Greek, Cyrillic, Armenian and Georgian:
  the servers run in the C locale, without ICU, so nothing else would do it).
- A word is a run of letters and digits: every other ASCII character, and the
  punctuation and space blocks of ``SEPARATORS``, end it. ``foo_bar``, ``v1.2.3``,
  ``ERR-4012``, ``bob@example.com`` and ``https://api.example.com/x`` are so stored
  as consecutive words, which a phrase query finds again, whole or in part.
- Characters of scripts written without spaces (CJK, Thai, ...) and emoji are one
  word each (``ISOLATED``): a query for ``東京`` is the phrase ``東 <-> 京``, a
  substring match, without a dictionary.
- Nothing is dropped: no stop words, no stemming.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Ranges of non-ASCII code points that separate words (punctuation, spaces, symbols).
SEPARATORS: tuple[tuple[int, int], ...] = (
    (0x0080, 0x00BF), (0x00D7, 0x00D7), (0x00F7, 0x00F7), (0x2000, 0x206F), (0x2190, 0x23FF),
    (0x2500, 0x25FF), (0x2E00, 0x2E7F), (0x3000, 0x303F), (0xFE00, 0xFE1F), (0xFE30, 0xFE6F),
    (0xFEFF, 0xFEFF), (0xFF00, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),
    (0xFFF0, 0xFFFF),
)
# Ranges whose characters are words of their own: scripts without spaces, and emoji.
ISOLATED: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2600, 0x27BF), (0x2E80, 0x2FFF),
    (0x3040, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF), (0x1F000, 0x1FAFF), (0x20000, 0x3134F),
)


def _lower_pairs() -> tuple[str, str]:
    upper, lower = [], []
    for cp in [*range(0xC0, 0x530), *range(0x10A0, 0x10D0), *range(0x1E00, 0x1F00)]:
        char = chr(cp)
        low = char.lower()
        if len(low) == 1 and low != char and unicodedata.normalize("NFKC", char) == char:
            upper.append(char)
            lower.append(low)
    return "".join(upper), "".join(lower)


LOWER_FROM, LOWER_TO = _lower_pairs()
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = str.maketrans(_ASCII_UPPER + LOWER_FROM, _ASCII_UPPER.lower() + LOWER_TO)
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _kind(char: str) -> str:
    """``w`` word character, ``i`` a word of its own, ``s`` separator."""
    cp = ord(char)
    if cp < 0x80:
        return "w" if char.isalnum() else "s"
    if _in(cp, ISOLATED):
        return "i"
    if _in(cp, SEPARATORS):
        return "s"
    return "w"


def fold(text: str) -> str:
    """A piece of text as the database folds it: NFKC, then lower case as described above."""
    return unicodedata.normalize("NFKC", text).translate(_LOWER) if not text.isascii() else text.lower()


@dataclass(frozen=True, slots=True)
class Word:
    start: int
    end: int  # offsets into the original text
    lexeme: str


def _clusters(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of each base character with the combining marks that follow it."""
    spans: list[tuple[int, int]] = []
    for index, char in enumerate(text):
        if spans and unicodedata.combining(char):
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


def words(text: str) -> list[Word]:
    """The words of ``text`` in order, with where each is in the text (highlighting).

    Each character (with its combining marks) is folded on its own, which is what folding
    the whole text does for all but exotic sequences.
    """
    found: list[Word] = []
    masked = _ENTITY.sub(lambda m: " " * len(m.group()), text)
    start: int | None = None
    lexeme: list[str] = []
    end = 0

    def close() -> None:
        nonlocal start, lexeme
        if start is not None:
            found.append(Word(start, end, "".join(lexeme)))
        start, lexeme = None, []

    for first, last in _clusters(masked):
        for char in fold(masked[first:last]):
            kind = _kind(char)
            if kind == "w":
                if start is None:
                    start = first
                lexeme.append(char)
                end = last
                continue
            close()
            if kind == "i":
                found.append(Word(first, last, char))
    close()
    return found


HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"


def highlight(text: str, exact: frozenset[str], prefixes: tuple[str, ...]) -> str:
    """``text`` with Slack's markers around each word the query matched (adjacent ones together)."""
    spans: list[list[int]] = []
    for word in words(text):
        if word.lexeme in exact or any(word.lexeme.startswith(p) for p in prefixes):
            # Joined to the previous mark when only punctuation lies between: ERR-4012, 東京.
            if spans and not any(c.isspace() for c in text[spans[-1][1]:word.start]):
                spans[-1][1] = word.end
            else:
                spans.append([word.start, word.end])
    if not spans:
        return text
    out: list[str] = []
    at = 0
    for start, end in spans:
        out += [text[at:start], HIGHLIGHT_START, text[start:end], HIGHLIGHT_END]
        at = end
    out.append(text[at:])
    return "".join(out)


def _ranges_sql(ranges: tuple[tuple[int, int], ...]) -> str:
    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"
    return "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in ranges)


def separators_sql() -> str:
    """The regular-expression bracket contents (PostgreSQL ARE) of every separator character."""
    return "\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f" + _ranges_sql(SEPARATORS)


def isolated_sql() -> str:
    return _ranges_sql(ISOLATED)
