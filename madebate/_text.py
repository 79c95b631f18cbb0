"""The one rule for control characters in text we show (a reply, a question, a name, an error):
in the terminal and in the HTML report alike they are made visible, never sent or acted on.
And the rule for names (personas, slots, a study's): two names a reader cannot tell apart are
the same name (`name_key`), an invisible character in a name is shown as its code point
(`show_name`), and a name becomes a file name only as a safe slug (`safe_slug`)."""

from __future__ import annotations

import re
import unicodedata

# C0 controls but tab and line feed (a carriage return too, unless it ends a line as CRLF:
# alone it rewrites a terminal line), DEL, the C1 controls, and the bidirectional embeddings,
# overrides and isolates (U+202A..U+202E, U+2066..U+2069), which reorder what follows them.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # its Unicode control picture: \x1b as U+241B
    if code == 0x7F:
        return "\u2421"
    return m.group(0).encode("unicode_escape").decode("ascii")  # no picture: '\x85', '\u202e'


def show_controls(text: str) -> str:
    """`text` with every control character (see `CONTROL`) shown as a visible stand-in: C0
    controls and DEL as their control pictures, the others as their escape ('\\u202e')."""
    return CONTROL.sub(_visible, text)


# -- names: what counts as the same name, and how a name is shown ------------------------------

# Characters that draw nothing (or only move the cursor) but make two names differ: format
# characters (Unicode category Cf: zero-width space, non-joiner and joiner, word joiner, byte
# order mark, soft hyphen, bidi marks, embeddings and isolates, tag characters), controls (Cc),
# line and paragraph separators, the Hangul and halfwidth fillers, the combining grapheme
# joiner, and variation selectors.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp"})
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180e\u3164\uffa0")


def is_invisible(ch: str) -> bool:
    """Whether `ch` shows nothing in a name (see `_INVISIBLE_CATEGORIES`). White space (a tab,
    a line break) is not: it separates words, as a space does."""
    code = ord(ch)
    return not ch.isspace() and (
        unicodedata.category(ch) in _INVISIBLE_CATEGORIES
        or ch in _INVISIBLE_EXTRA
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


def name_key(name: str) -> str:
    """The form two names are compared in: invisible characters removed, compatibility
    look-alikes folded (NFKC: fullwidth 'Ａ' is 'A', the ligature 'ﬁ' is 'fi'), case folded and
    runs of spaces made one. Names with the same key are the same name to a reader."""
    visible = "".join(ch for ch in name if not is_invisible(ch))
    folded = unicodedata.normalize("NFKC", visible).casefold()
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def show_name(name: str) -> str:
    """`name` with each invisible character, and white space other than a space, written as
    its code point ('Ali\\u200bce' as 'Ali<U+200B>ce'), so that a message shows how two names
    that look the same differ."""
    return "".join(
        f"<U+{ord(ch):04X}>" if is_invisible(ch) or (ch.isspace() and ch != " ") else ch
        for ch in name
    )


def quote_name(name: str) -> str:
    """A name for a message: quoted and shown (see `show_name`), with the form it is compared
    in where a look-alike letter differs from it ("'Ａ1' (read as 'A1')")."""
    shown = f"'{show_name(name)}'"
    visible = "".join(ch for ch in name if not is_invisible(ch))
    folded = unicodedata.normalize("NFKC", visible)
    if folded != visible:
        shown += f" (read as '{folded}')"
    return shown


def visible_name(name: str, whose: str) -> str:
    """`name` when it shows something; else a ValueError saying so (`whose`: "the paradigm",
    for "give the paradigm a name people can read")."""
    if not name_key(name):
        raise ValueError(
            f"the name {quote_name(name)} shows nothing (only spaces or invisible characters); "
            f"give {whose} a name people can read"
        )
    return name


def safe_slug(name: str, fallback: str = "run", max_length: int = 80) -> str:
    """A file-name-safe form of `name`: letters, digits, '_', '.' and '-' (anything else, and
    every invisible character, becomes '-' or is dropped); never starting with '-' or '.' (a
    command line would read it as an option, a shell as hidden); `fallback` when nothing is left."""
    visible = unicodedata.normalize("NFKC", "".join(c for c in name if not is_invisible(c)))
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in visible)
    slug = re.sub(r"-{2,}", "-", slug)[:max_length].strip("-._")
    return slug or fallback
