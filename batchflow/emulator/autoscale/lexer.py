"""Tokens of an autoscale formula: numbers, "strings", names ($ optional), operators.

``//`` starts a comment to the end of the line, as the docs' examples use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from batchflow.emulator.autoscale.errors import Position, syntax_error


class Kind(Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    OP = "operator"
    END = "end of formula"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    position: Position


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>//[^\n]*)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<string>"[^"\n]*")
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/!?:(),;=.<>])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text`` then END; an unknown character is a located syntax error."""
    tokens: list[Token] = []
    line, line_start, index = 1, 0, 0
    while index < len(text):
        match = _TOKEN.match(text, index)
        position = Position(line, index - line_start + 1)
        if match is None:
            raise syntax_error(f"Unexpected character '{text[index]}'", position)
        group = match.lastgroup
        lexeme = match.group()
        if group in ("number", "string", "name", "op"):
            tokens.append(Token(Kind(_KINDS[group]), lexeme, position))
        newlines = lexeme.count("\n")
        if newlines:
            line += newlines
            line_start = index + lexeme.rindex("\n") + 1
        index = match.end()
    tokens.append(Token(Kind.END, "", Position(line, index - line_start + 1)))
    return tokens


_KINDS = {"number": "number", "string": "string", "name": "name", "op": "operator"}
