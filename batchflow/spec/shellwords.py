"""Where each placeholder of a command lands, through every level of quoting.

A command line is split into words by Batch (the emulator: ``shlex.split``) with POSIX rules
and no expansion: level 0. A word that is the script of a shell (``sh -c``, ``bash -euxc``,
``env X=1 timeout 5 dash -c``...) is read again by that shell: level 1, and a ``sh -c`` in there
is level 2, and so on. Placeholders are opaque marker characters while the text is read; each
ends with the quoting it sits in at every level (``plain``, ``sq``, ``dq``), outermost first,
and whether it begins a word at the innermost level (where a value could be read as an option).

Spots where no quoting can make a value inert (backticks, ``${...}``, ``$((...))``, ``$'...'``,
comments, here-documents, ``eval``, the code of ``python -c`` and other interpreters) get a
problem instead, saying how to write the command safely.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, NamedTuple

Quoting = Literal["plain", "sq", "dq"]

_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "yash", "posh"})
# Interpreters -> option letters whose argument is code (``python -c CODE``, ``perl -e CODE``).
_INTERPRETERS: dict[str, str] = {
    "perl": "eE",
    "ruby": "e",
    "node": "ep",
    "nodejs": "ep",
    "php": "rBRE",
    "rscript": "e",
    "r": "e",
    "lua": "e",
}
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
_CODE_BUILTINS = frozenset({"eval", "trap"})
# Words that may stand before a command name without being it.
_PREFIXES = frozenset(
    {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "exec", "command"}
)
_HINT = "pass it as an argument instead: sh -c 'cat \"$1\"' sh {input.name}"
_BACKSLASH = "a placeholder cannot follow a backslash; remove the backslash (values are quoted)"


# Plain classes, not dataclasses: each dataclass costs `validate` a millisecond of start-up.
class Spot(NamedTuple):
    """Where one placeholder lands: its quoting at each level, outermost first."""

    chain: tuple[Quoting, ...]
    word_start: bool
    problem: str | None = None


class _Word:
    __slots__ = ("chars", "expanded", "marks")

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.marks: list[tuple[str, Quoting, bool]] = []  # marker, quoting, start
        self.expanded: set[str] = set()  # markers inside $(...) in this word

    def mark(self, marker: str, quoting: Quoting) -> None:
        self.marks.append((marker, quoting, not self.chars))
        self.chars.append(marker)

    @property
    def text(self) -> str:
        return "".join(self.chars)


class _Reader:
    """Common state of a reader: the text, the markers, problems found."""

    def __init__(self, text: str, markers: frozenset[str]) -> None:
        self.t = text
        self.i = 0
        self.markers = markers
        self.refused: dict[str, str] = {}  # marker -> why
        self.errors: list[str] = []  # problems of the text itself (unterminated quotes)
        self.commands: list[list[_Word]] = []

    def refuse_in(self, text: str, why: str) -> None:
        for ch in text:
            if ch in self.markers:
                self.refused.setdefault(ch, why)


def argv_words(text: str, markers: frozenset[str]) -> _Reader:
    """Level 0: ``shlex.split`` rules (posix, no comments, no expansion)."""
    r = _Reader(text, markers)
    words: list[_Word] = []
    word: _Word | None = None
    quote = ""
    t, n = text, len(text)
    i = 0
    while i < n:
        ch = t[i]
        if quote == "" and ch in " \t\r\n":
            if word is not None:
                words.append(word)
                word = None
            i += 1
            continue
        if word is None:
            word = _Word()
        if ch == "\\" and quote != "'" and t[i + 1 : i + 2] in markers and i + 1 < n:
            r.refused[t[i + 1]] = _BACKSLASH
            i += 1  # the marker is read next
            continue
        if ch in markers:
            word.mark(ch, "dq" if quote == '"' else "sq" if quote == "'" else "plain")
        elif quote == "'":
            if ch == "'":
                quote = ""
            else:
                word.chars.append(ch)
        elif ch == "\\" and (quote == "" or t[i + 1 : i + 2] in ('"', "\\")):
            if i + 1 >= n:
                r.errors.append("the command ends with a backslash")
            else:
                word.chars.append(t[i + 1])
            i += 2
            continue
        elif quote == '"':
            if ch == '"':
                quote = ""
            else:
                word.chars.append(ch)
        elif ch in "'\"":
            quote = ch
        else:
            word.chars.append(ch)
        i += 1
    if quote:
        r.errors.append(f"unterminated {quote} quote in the command")
    if word is not None:
        words.append(word)
    r.commands.append(words)
    return r


class _Shell(_Reader):
    """Level 1 and deeper: a POSIX shell script, read just enough to know the quoting."""

    heredoc = False

    def script(self, closing: bool) -> None:
        """Read commands up to the end (or the ``)`` closing a ``$(``)."""
        commands: list[list[_Word]] = [[]]
        self.commands.append(commands[0])
        word: _Word | None = None
        depth = 0
        cases = 0  # open `case ... esac`: their patterns' ")" close neither a ( nor a $(
        t, n = self.t, len(self.t)

        def end(command: bool) -> None:
            nonlocal word, cases
            if word is not None:
                if all(w.text in _PREFIXES for w in commands[-1]):  # a command's first word
                    cases += word.text == "case"
                    cases -= word.text == "esac" and cases > 0
                commands[-1].append(word)
                word = None
            if command and commands[-1]:
                commands.append([])
                self.commands.append(commands[-1])

        while self.i < n:
            ch = t[self.i]
            if ch in " \t":
                end(False)
            elif ch in "\n;&|()":
                end(False)  # the word before it first: an `esac` there closes its case
                if ch == ")" and depth == 0 and cases:
                    end(True)  # a case pattern ends
                    self.i += 1
                    continue
                if ch == ")" and closing and depth == 0:
                    end(True)
                    self.i += 1
                    return
                depth += {"(": 1, ")": -1}.get(ch, 0)
                end(True)
            elif ch in "<>":
                end(False)
                if t.startswith("<<<", self.i):
                    self.i += 2
                elif t.startswith("<<", self.i):
                    self.heredoc = True
                    self.i += 1
            elif ch == "#" and word is None:
                stop = t.find("\n", self.i)
                stop = n if stop < 0 else stop
                self.refuse_in(
                    t[self.i : stop], f"a placeholder cannot be in a shell comment; {_HINT}"
                )
                self.i = stop
                continue
            else:
                if word is None:
                    word = _Word()
                self.word_part(word, "plain")
                continue
            self.i += 1
        end(True)
        if closing:
            self.errors.append("unterminated $( in a shell script")

    def word_part(self, word: _Word, quoting: Quoting) -> None:
        """Read one character or quoted/expanded run into ``word``, advancing ``self.i``."""
        ch = self.t[self.i]
        if ch in self.markers:
            if self.heredoc:
                self.refused.setdefault(
                    ch,
                    f"a placeholder cannot follow a here-document (<<) in a shell script; {_HINT}",
                )
            word.mark(ch, quoting)
            self.i += 1
        elif ch == "'" and quoting == "plain":
            self.single(word)
        elif ch == '"' and quoting == "plain":
            self.i += 1
            self.double(word)
        elif ch == "\\":
            self.backslash(word, quoting)
        elif ch == "`":
            self.closed(word, 1, "`", 1, "inside backticks")
        elif ch == "$":
            self.dollar(word, quoting)
        else:
            word.chars.append(ch)
            self.i += 1

    def single(self, word: _Word) -> None:
        self.i += 1
        t, n = self.t, len(self.t)
        while self.i < n and t[self.i] != "'":
            ch = t[self.i]
            if ch in self.markers:
                self.word_part(word, "sq")  # records the mark (and a here-document refusal)
                continue
            word.chars.append(ch)
            self.i += 1
        if self.i >= n:
            self.errors.append("unterminated ' quote in a shell script")
        self.i += 1

    def double(self, word: _Word) -> None:
        t, n = self.t, len(self.t)
        while self.i < n and t[self.i] != '"':
            self.word_part(word, "dq")
        if self.i >= n:
            self.errors.append('unterminated " quote in a shell script')
        self.i += 1

    def backslash(self, word: _Word, quoting: Quoting) -> None:
        nxt = self.t[self.i + 1 : self.i + 2]
        if nxt and nxt in self.markers:
            self.refused.setdefault(nxt, _BACKSLASH)
            self.i += 1  # the marker itself is read next
            return
        if nxt == "\n":
            self.i += 2
        elif quoting == "plain" or nxt in ("$", "`", '"', "\\"):
            word.chars.append(nxt)
            self.i += 2
        else:
            word.chars.append("\\")
            self.i += 1

    def dollar(self, word: _Word, quoting: Quoting) -> None:
        t, i = self.t, self.i
        nxt = t[i + 1 : i + 2]
        if t.startswith("$((", i):
            self.closed(word, 3, "()", 2, "inside $((...))")
        elif nxt == "(":
            self.i += 2
            start = self.i
            self.script(closing=True)
            inner = t[start : self.i]
            word.expanded.update(ch for ch in inner if ch in self.markers)
            word.chars.append("$(" + inner)
        elif nxt == "{":
            self.closed(word, 2, "{}", 1, "inside ${...}")
        elif nxt == "'" and quoting == "plain":
            self.closed(word, 2, "'", 1, "inside $'...'")
        elif nxt and nxt in self.markers:
            self.refused.setdefault(
                nxt, f"a placeholder cannot follow $ in a shell script; {_HINT}"
            )
            word.chars.append("$")
            self.i += 1
        else:
            word.chars.append("$")
            self.i += 1

    def closed(self, word: _Word, start: int, pair: str, depth: int, where: str) -> None:
        """A run no value may enter (backticks, ``${...}``...): kept as text, markers refused.

        ``start`` characters open it; ``pair`` is its (opening,) closing character, counted
        from ``depth``.
        """
        t, n = self.t, len(self.t)
        j = self.i + start
        while j < n and depth:
            if t[j] == "\\":
                j += 2
                continue
            depth += (t[j] == pair[0] and len(pair) > 1) - (t[j] == pair[-1])
            j += 1
        if depth:
            self.errors.append(f"unterminated {t[self.i : self.i + start]} in a shell script")
        self.refuse_in(t[self.i : j], f"a placeholder cannot be {where} in a shell script; {_HINT}")
        word.chars.append(t[self.i : j])
        self.i = j


def spots(text: str, markers: frozenset[str]) -> tuple[dict[str, Spot], list[str]]:
    """Each marker's Spot in the command line ``text``, and problems of the text itself."""
    reader = argv_words(text, markers)
    return _resolve(reader), reader.errors


def _shell_spots(script: str, markers: frozenset[str]) -> tuple[dict[str, Spot], list[str]]:
    reader = _Shell(script, markers)
    reader.script(closing=False)
    return _resolve(reader), reader.errors


def _resolve(reader: _Reader) -> dict[str, Spot]:
    found: dict[str, Spot] = {}

    def put(marker: str, spot: Spot) -> None:  # a refusal anywhere wins
        old = found.get(marker)
        if old is None or (old.problem is None and spot.problem is not None):
            found[marker] = spot

    for words in reader.commands:
        scripts, code = _code_words(words)
        for index, word in enumerate(words):
            if index in scripts:
                _nest(word, reader, put)
                continue
            for marker, quoting, start in word.marks:
                put(marker, Spot((quoting,), start, reader.refused.get(marker) or code.get(index)))
    for marker, why in reader.refused.items():
        put(marker, Spot(("plain",), False, why))
    return found


def _nest(word: _Word, reader: _Reader, put: Callable[[str, Spot], None]) -> None:
    """Read the script ``word`` at the next level; its markers get one more quoting."""
    quotings = {marker: quoting for marker, quoting, _ in word.marks}
    held = [ch for ch in word.text if ch in reader.markers]
    if not held:
        return
    inner, errors = _shell_spots(word.text, reader.markers)
    for marker in held:
        spot = inner.get(marker)
        why = reader.refused.get(marker)
        if why is None and marker in word.expanded:
            why = f"a placeholder cannot be inside $(...) in a shell's script: it is run; {_HINT}"
        elif why is None and errors and (spot is None or spot.problem is None):
            why = errors[0]
        if why is not None or spot is None or marker not in quotings:
            put(
                marker, Spot(("plain",), False, why or "cannot tell how this placeholder is quoted")
            )
        else:
            put(marker, Spot((quotings[marker], *spot.chain), spot.word_start, spot.problem))


def _code_words(words: list[_Word]) -> tuple[set[int], dict[int, str]]:
    """Indexes of words that are shell scripts, and words that are other code (-> why)."""
    texts = [w.text for w in words]
    scripts: set[int] = set()
    code: dict[int, str] = {}
    first = 0
    while first < len(texts) and (texts[first] in _PREFIXES or _assignment(texts[first])):
        first += 1
    if first < len(texts) and texts[first] in _CODE_BUILTINS:
        why = f"a placeholder cannot be an argument of {texts[first]}; {_HINT}"
        code.update((k, why) for k in range(first + 1, len(texts)))
        return scripts, code
    if first < len(texts) and words[first].marks:
        # `{params.sh} -c "..."`: which program it is, and so how it reads code, is unknown
        # until run time; its code arguments cannot be quoted for it.
        code.update(_after_code_option(texts, first + 1))
        return scripts, code
    for i, text in enumerate(texts):
        name = text.rsplit("/", 1)[-1]
        if name == "busybox" and i + 1 < len(texts) and texts[i + 1] in _SHELLS:
            i, name = i + 1, texts[i + 1]
        if name in _SHELLS:
            j = _shell_script(texts, i + 1)
            if j is not None:
                scripts.add(j)
            break
        letters = _code_letters(name)
        if letters is not None:
            why = (
                f"a placeholder cannot be in the code given to {name}, whose quoting is not "
                f"the shell's; pass it as an argument instead and read it there "
                f"(sys.argv, @ARGV, process.argv...)"
            )
            code.update((k, why) for k in _code_args(texts, i + 1, letters, name in _AWKS))
            break
    return scripts, code


def _after_code_option(texts: list[str], j: int) -> dict[int, str]:
    """Words after the first option that could take code (``-c``, ``-ec``, ``-e``, ``--eval``)."""
    why = (
        "a placeholder cannot be in the code of a program named by a placeholder (its quoting "
        f"is unknown): name the shell or interpreter literally, or {_HINT}"
    )
    for k in range(j, len(texts)):
        text = texts[k]
        short = text.startswith("-") and not text.startswith("--") and text[1:].isalpha()
        if (short and ("c" in text or "e" in text)) or text.startswith(("--eval", "--command")):
            return dict.fromkeys(range(k + 1, len(texts)), why) | ({k: why} if "=" in text else {})
    return {}


def _assignment(text: str) -> bool:
    name, eq, _ = text.partition("=")
    return bool(eq) and name.isidentifier()


def _code_letters(name: str) -> str | None:
    """Option letters taking code for an interpreter named ``name`` (None: not one)."""
    low = name.lower()
    if re.fullmatch(r"python[0-9.]*|pypy3?", low):
        return "c"
    if low in _AWKS:
        return ""
    if low in _INTERPRETERS:
        return _INTERPRETERS[low]
    if low.startswith("lua") and low[3:].replace(".", "").isdigit():
        return "e"
    return None


def _shell_script(texts: list[str], j: int) -> int | None:
    """The index of the script of a shell whose options start at ``texts[j]``, if ``-c``."""
    has_c = False
    while j < len(texts):
        text = texts[j]
        if text == "--":
            j += 1
            break
        if text in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            j += 2
            continue
        if text.startswith("--"):
            j += 1
            continue
        if len(text) > 1 and text[0] in "-+" and text[1:].isalpha():
            has_c = has_c or (text[0] == "-" and "c" in text)
            j += 2 if text[-1] in "oO" else 1
            continue
        break
    return j if has_c and j < len(texts) else None


def _code_args(texts: list[str], j: int, letters: str, awk: bool) -> list[int]:
    """Indexes of the words holding code among an interpreter's arguments from ``j``."""
    out = []
    while j < len(texts):
        text = texts[j]
        if text.startswith("--eval") or text.startswith("--print") or text == "--exec":
            out.append(j if "=" in text else j + 1)
            j += 2
            continue
        if text.startswith("-") and len(text) > 1:
            if awk:
                if text in ("-f", "--file") or text.startswith("-f"):
                    return out  # the program is a file
                j += 2 if text in ("-F", "-v") else 1
                continue
            hit = next((k for k, c in enumerate(text[1:], 1) if c in letters), None)
            if hit is not None:
                out.append(j + 1 if hit == len(text) - 1 else j)
                j += 2 if hit == len(text) - 1 else 1
                continue
            j += 1
            continue
        if awk:
            out.append(j)
        break
    return out
