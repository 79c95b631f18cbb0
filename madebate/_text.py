"""The one rule for control characters in text we show (a reply, a question, a name, an error):
in the terminal and in the HTML report alike they are made visible, never sent or acted on."""

from __future__ import annotations

import re

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
