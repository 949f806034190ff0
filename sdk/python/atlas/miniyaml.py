"""A YAML subset parser, enough for ``agent.yaml`` (standard library only).

Supported: block mappings and sequences (including a sequence at the same
indentation as its key, and ``- key: value`` items), flow sequences and
mappings (``[a, b]``, ``{k: v}``, nested, spanning lines), plain, single- and
double-quoted scalars (plain and quoted scalars may continue on more-indented
lines), literal ``|`` and folded ``>`` block scalars with chomping indicators,
comments, an optional leading ``---`` and trailing ``...``.  Plain scalars
resolve with the YAML 1.2 core schema (null, booleans, integers, floats,
strings).

Not supported, and reported as errors rather than guessed at: anchors and
aliases, tags, complex (``?``) keys, several documents, tabs in indentation.
Duplicate keys are an error.  Every error carries a 1-based line and column.

    >>> loads("agent:\\n  name: x\\n  tags: [a, b]\\n")
    {'agent': {'name': 'x', 'tags': ['a', 'b']}}
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["YAMLError", "loads", "load"]

_MAX_DEPTH = 64


class YAMLError(ValueError):
    """A located parse error: ``line`` and ``col`` are 1-based."""

    def __init__(self, message: str, line: int, col: int, filename: str | None = None):
        self.message, self.line, self.col, self.filename = message, line, col, filename
        where = f"{filename}:" if filename else ""
        super().__init__(f"{where}{line}:{col}: {message}")


_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")


def _resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema resolution of a plain scalar."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_HEXLEN = {"x": 2, "u": 4, "U": 8}


class _Parser:
    def __init__(self, text: str, filename: str | None):
        self.filename = filename
        if text.startswith("\ufeff"):
            text = text[1:]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.final_newline = text.endswith("\n")
        self.lines = text.split("\n")
        if self.final_newline:
            self.lines.pop()  # the "line" after the last line break
        self.i = 0  # index of the current line

    # -- helpers ---------------------------------------------------------
    def error(self, message: str, line: int, col: int) -> YAMLError:
        return YAMLError(message, line + 1, col + 1, self.filename)

    @staticmethod
    def _indent(s: str) -> int:
        return len(s) - len(s.lstrip(" "))

    def _is_blank(self, s: str) -> bool:
        t = s.strip(" \t")
        return t == "" or t.startswith("#")

    def skip_blank(self) -> None:
        while self.i < len(self.lines) and self._is_blank(self.lines[self.i]):
            self.i += 1

    def at_end(self) -> bool:
        self.skip_blank()
        if self.i >= len(self.lines):
            return True
        return self.lines[self.i].rstrip() in ("...", "---") and self._indent(self.lines[self.i]) == 0

    def check_tabs(self, idx: int) -> None:
        s = self.lines[idx]
        ws = s[: len(s) - len(s.lstrip(" \t"))]
        if "\t" in ws:
            raise self.error("tabs are not allowed in indentation", idx, ws.index("\t"))

    @staticmethod
    def strip_comment(s: str, start: int = 0, quoted: bool = True) -> str:
        """Cut a trailing ``# comment`` (a # at the start or after a blank),
        ignoring one inside a quoted value that begins at ``start`` (unless
        ``quoted`` is false: the continuation of a plain value)."""
        quote = None
        j = start
        while j < len(s):
            c = s[j]
            if quote:
                if c == "\\" and quote == '"':
                    j += 2
                    continue
                if c == quote:
                    if quote == "'" and j + 1 < len(s) and s[j + 1] == "'":
                        j += 2
                        continue
                    quote = None
            elif c in "\"'" and j == start and quoted:  # mid-value quotes are plain text
                quote = c
            elif c == "#" and (j == 0 or s[j - 1] in " \t"):
                return s[:j].rstrip(" \t")
            j += 1
        return s.rstrip(" \t")

    # -- document --------------------------------------------------------
    def parse(self) -> Any:
        self.skip_blank()
        if self.i < len(self.lines):
            first = self.lines[self.i]
            if first.rstrip() == "---":
                self.i += 1
            elif first.startswith(("--- ", "---\t")):
                # "--- value": the document's content starts on the marker line.
                self.lines[self.i] = "    " + first[4:]
        if self.at_end():
            value = None
        else:
            self.check_tabs(self.i)
            value = self.parse_block(self._indent(self.lines[self.i]), 0)
        self.skip_blank()
        if self.i < len(self.lines):
            s = self.lines[self.i].rstrip()
            if s == "...":
                self.i += 1
                self.skip_blank()
                if self.i >= len(self.lines):
                    return value
            elif s == "---":
                raise self.error("several documents in one file are not supported", self.i, 0)
            raise self.error("unexpected content (check the indentation)",
                             self.i, self._indent(self.lines[self.i]))
        return value

    def parse_block(self, indent: int, depth: int) -> Any:
        """Parse the node whose first line is the current line, at ``indent``."""
        if depth > _MAX_DEPTH:
            raise self.error("nesting is too deep", self.i, indent)
        line = self.lines[self.i]
        body = line[indent:]
        if body == "-" or body.startswith("- ") or body.startswith("-\t"):
            return self.parse_sequence(indent, depth)
        if self._mapping_key(line, indent) is not None:
            return self.parse_mapping(indent, depth)
        # A lone scalar or flow collection as the whole node.
        return self.parse_inline_value(self.i, indent, indent - 1, depth)

    # -- mappings --------------------------------------------------------
    def _mapping_key(self, line: str, col: int):
        """If ``line[col:]`` starts a ``key: value`` entry return (key, col of
        the text after the colon), else None."""
        s = line
        j = col
        if j < len(s) and s[j] in "\"'":
            q = s[j]
            k = j + 1
            buf = []
            while k < len(s):
                if q == '"' and s[k] == "\\" and k + 1 < len(s):
                    buf.append(s[k:k + 2])
                    k += 2
                    continue
                if s[k] == q:
                    if q == "'" and k + 1 < len(s) and s[k + 1] == "'":
                        buf.append("'")
                        k += 2
                        continue
                    break
                buf.append(s[k])
                k += 1
            else:
                return None
            k += 1
            while k < len(s) and s[k] in " \t":
                k += 1
            if k < len(s) and s[k] == ":" and (k + 1 == len(s) or s[k + 1] in " \t"):
                raw = "".join(buf)
                key = self._unescape_double(raw, self.i, j + 1) if q == '"' else raw
                return key, k + 1
            return None
        if j < len(s) and s[j] in "[]{},&*!|>%@`?#":
            if s[j] == "?" and (j + 1 == len(s) or s[j + 1] == " "):
                raise self.error("complex keys ('?') are not supported", self.i, j)
            return None
        m = re.compile(r"[^#]*?:(?=[ \t]|$)").match(s, j)
        if not m:
            return None
        key_text = s[j:m.end() - 1].rstrip(" \t")
        if key_text == "" or " #" in key_text:
            return None
        return _resolve_plain(key_text), m.end()

    def parse_mapping(self, indent: int, depth: int) -> dict:
        out: dict = {}
        while not self.at_end():
            idx = self.i
            self.check_tabs(idx)
            line = self.lines[idx]
            ind = self._indent(line)
            if ind < indent:
                break
            if ind > indent:
                raise self.error("unexpected indentation", idx, ind)
            kv = self._mapping_key(line, indent)
            if kv is None:
                if line[indent:].startswith("-"):
                    raise self.error("a sequence item where a mapping key was expected", idx, ind)
                raise self.error("expected 'key: value'", idx, ind)
            key, after = kv
            if isinstance(key, (list, dict)) or (isinstance(key, float) and key != key):
                raise self.error("unsupported mapping key", idx, ind)
            if key in out:
                raise self.error(f"duplicate key {key!r}", idx, ind)
            out[key] = self.parse_value_after(idx, after, indent, depth, seq_same_indent=True)
        return out

    def parse_value_after(self, idx: int, col: int, indent: int, depth: int,
                          seq_same_indent: bool) -> Any:
        """Parse the value that follows ``key:`` (or ``- ``) starting at
        ``col`` of line ``idx``.  ``indent`` is the indentation of the owner."""
        line = self.lines[idx]
        rest = self.strip_comment(line, col)[col:].strip(" \t")
        if rest == "":
            self.i = idx + 1
            if self.at_end():
                return None
            nxt = self.lines[self.i]
            self.check_tabs(self.i)
            nind = self._indent(nxt)
            if nind > indent:
                return self.parse_block(nind, depth + 1)
            body = nxt[nind:]
            if seq_same_indent and nind == indent and (body == "-" or body.startswith("- ")):
                return self.parse_sequence(indent, depth + 1)
            return None
        start = col + (len(line[col:]) - len(line[col:].lstrip(" \t")))
        return self.parse_inline_value(idx, start, indent, depth)

    # -- sequences -------------------------------------------------------
    def parse_sequence(self, indent: int, depth: int) -> list:
        out: list = []
        while not self.at_end():
            idx = self.i
            self.check_tabs(idx)
            line = self.lines[idx]
            ind = self._indent(line)
            if ind < indent:
                break
            if ind > indent:
                raise self.error("unexpected indentation", idx, ind)
            body = line[indent:]
            if not (body == "-" or body.startswith("- ") or body.startswith("-\t")):
                break  # e.g. the next key of a mapping that holds this sequence
            after = indent + 1
            while after < len(line) and line[after] in " \t":
                after += 1
            rest = self.strip_comment(line, after)
            if after >= len(line) or rest[after:].strip() == "":
                out.append(self.parse_value_after(idx, after, indent, depth, seq_same_indent=False))
                continue
            tail = line[after:]
            if tail.startswith("- ") or tail == "-" or self._mapping_key(line, after) is not None:
                # "- key: v" or "- - x": the item is a block node that starts
                # mid-line; re-read the line as if it were indented that far.
                self.lines[idx] = " " * after + tail
                out.append(self.parse_block(after, depth + 1))
                self.lines[idx] = line
                continue
            value = self.parse_inline_value(idx, after, indent, depth)
            out.append(value)
        return out

    # -- scalars and flow collections -----------------------------------
    def parse_inline_value(self, idx: int, col: int, indent: int, depth: int):
        """Parse a scalar or flow collection starting at ``(idx, col)``; the
        owner's indentation is ``indent`` (continuation lines must be deeper).
        Leaves ``self.i`` on the line after the value."""
        line = self.lines[idx]
        c = line[col] if col < len(line) else ""
        if c and c in "&*":
            raise self.error("anchors and aliases are not supported", idx, col)
        if c == "!":
            raise self.error("tags are not supported", idx, col)
        if c and c in "|>":
            return self.parse_block_scalar(idx, col, indent)
        if c and c in "[{":
            return self.parse_flow_document(idx, col, indent, depth)
        if c and c in "\"'":
            return self.parse_quoted_block(idx, col, indent)
        if c == "-" and (col + 1 >= len(line) or line[col + 1] in " \t"):
            raise self.error("a sequence cannot start on the line of its key", idx, col)
        if c and c in "@`%]},":
            raise self.error(f"a plain value cannot start with {c!r} (quote it)", idx, col)
        # Plain scalar, possibly continued on more-indented lines.
        text = self.strip_comment(line, col)[col:].strip(" \t")
        if re.search(r":[ \t]", text) or text.endswith(":"):
            raise self.error("unexpected ':' in a plain value (quote the value)", idx,
                             col + text.index(":"))
        # Continuation lines fold into one space; blank lines into newlines.
        # A comment ends the value.
        commented = self.strip_comment(line, col) != line.rstrip(" \t")
        value, folded = text, False
        blanks = 0
        self.i = idx + 1
        while self.i < len(self.lines):
            nxt = self.lines[self.i]
            if nxt.strip(" \t") == "":
                blanks += 1
                self.i += 1
                continue
            if (self._indent(nxt) <= indent or nxt.lstrip(" ").startswith("#")
                    or nxt.rstrip() in ("...", "---")):
                break
            if commented:
                raise self.error("a comment ends a plain value; this line continues it",
                                 self.i, self._indent(nxt))
            cont = self.strip_comment(nxt, quoted=False).strip(" \t")
            if re.search(r":[ \t]", cont) or cont.endswith(":"):
                raise self.error("unexpected 'key: value' inside a plain value "
                                 "(check the indentation)", self.i, self._indent(nxt))
            value += ("\n" * blanks if blanks else " ") + cont
            folded, blanks = True, 0
            self.i += 1
        return value if folded else _resolve_plain(text)

    def parse_quoted_block(self, idx: int, col: int, indent: int):
        """A quoted scalar that may span lines (folded as YAML does)."""
        q = self.lines[idx][col]
        pieces = []
        li, j = idx, col + 1
        while True:
            s = self.lines[li]
            k = j
            buf = []
            closed = False
            while k < len(s):
                ch = s[k]
                if q == '"' and ch == "\\":
                    if k + 1 >= len(s):  # escaped line break: join without a space
                        buf.append("\\\n")
                        k += 1
                        break
                    buf.append(s[k:k + 2])
                    k += 2
                    continue
                if ch == q:
                    if q == "'" and k + 1 < len(s) and s[k + 1] == "'":
                        buf.append("'")
                        k += 2
                        continue
                    closed = True
                    break
                buf.append(ch)
                k += 1
            pieces.append("".join(buf))
            if closed:
                break
            li += 1
            if li >= len(self.lines):
                raise self.error("unterminated quoted string", idx, col)
            j = 0
        # Fold: line breaks become spaces, blank lines become newlines.
        text = pieces[0]
        for n, p in enumerate(pieces[1:], 2):
            last = n == len(pieces)
            if text.endswith("\\\n"):
                text = text[:-2] + p.lstrip(" \t")
                continue
            stripped = p.lstrip(" \t") if last else p.strip(" \t")
            if stripped == "" and not last:
                text = text.rstrip(" \t") + "\n"
            elif text.endswith("\n"):
                text += stripped
            else:
                text = text.rstrip(" \t") + " " + stripped
        value = self._unescape_double(text, idx, col + 1) if q == '"' else text
        tail = self.strip_comment(self.lines[li], k + 1)[k + 1:].strip(" \t")
        if tail:
            raise self.error("unexpected text after a quoted string", li, k + 1)
        self.i = li + 1
        return value

    def _unescape_double(self, raw: str, line: int, col: int) -> str:
        out = []
        k = 0
        while k < len(raw):
            ch = raw[k]
            if ch != "\\":
                out.append(ch)
                k += 1
                continue
            if k + 1 >= len(raw):
                raise self.error("dangling backslash", line, col + k)
            e = raw[k + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                k += 2
            elif e in _HEXLEN:
                n = _HEXLEN[e]
                digits = raw[k + 2:k + 2 + n]
                if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise self.error(f"bad \\{e} escape", line, col + k)
                out.append(chr(int(digits, 16)))
                k += 2 + n
            else:
                raise self.error(f"unknown escape \\{e}", line, col + k)
        return "".join(out)

    def parse_block_scalar(self, idx: int, col: int, indent: int) -> str:
        line = self.lines[idx]
        header = self.strip_comment(line, col)[col:].strip()
        m = re.fullmatch(r"([|>])([+-]?)([1-9]?)([+-]?)", header)
        if not m or (m.group(2) and m.group(4)):
            raise self.error("bad block scalar header", idx, col)
        style, chomp = m.group(1), m.group(2) or m.group(4)
        explicit = int(m.group(3)) if m.group(3) else None
        body = []
        self.i = idx + 1
        block_indent = indent + explicit if explicit else None
        while self.i < len(self.lines):
            s = self.lines[self.i]
            if s.strip(" ") == "":
                # Spaces beyond the block's indentation are content.
                keep = block_indent is not None and len(s) > block_indent
                body.append(s[block_indent:] if keep else "")
                self.i += 1
                continue
            ind = self._indent(s)
            if block_indent is None:
                if ind <= indent:
                    break
                block_indent = ind
            if ind < block_indent:
                break
            body.append(s[block_indent:])
            self.i += 1
        # Trailing blank lines belong to chomping, not to the next node.
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        # A block that runs to the end of an input without a final line
        # break has no line break to keep.
        eof_no_newline = self.i == len(self.lines) and not self.final_newline and trailing == 0
        if style == "|":
            text = "\n".join(body)
        else:
            # Folding (YAML 1.2 section 8.1.3): a line break between two
            # normal lines becomes a space, or the blank lines between them;
            # breaks next to "more indented" lines are kept.
            text, prev, blanks = "", None, 0
            for b in body:
                if b == "":
                    blanks += 1
                    continue
                more = b[0] in " \t"
                if prev is None:
                    text = "\n" * blanks + b
                elif prev == "normal" and not more:
                    text += (" " if blanks == 0 else "\n" * blanks) + b
                else:
                    text += "\n" + "\n" * blanks + b
                prev, blanks = ("more" if more else "normal"), 0
        if not body:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-" or eof_no_newline:
            return text
        if chomp == "+":
            return text + "\n" + "\n" * trailing
        return text + "\n"

    def parse_flow_document(self, idx: int, col: int, indent: int, depth: int):
        """Parse a flow collection that may span lines."""
        fp = _FlowParser(self, idx, col, depth)
        value = fp.parse_node()
        fp.skip_ws()
        if fp.li < len(self.lines) and fp.j < len(self.lines[fp.li]):
            raise self.error("unexpected text after a flow collection", fp.li, fp.j)
        self.i = fp.li + 1
        return value


class _FlowParser:
    """Recursive descent over ``[...]`` / ``{...}`` across lines."""

    def __init__(self, p: _Parser, li: int, j: int, depth: int):
        self.p, self.li, self.j, self.depth = p, li, j, depth
        self.start_li, self.start_j = li, j  # for "unterminated" errors
        self.depth_open = 0  # open brackets: only inside them may lines continue

    def cur(self) -> str:
        s = self.p.lines[self.li]
        return s[self.j] if self.j < len(s) else ""

    def skip_ws(self) -> None:
        lines = self.p.lines
        while self.li < len(lines):
            s = lines[self.li]
            while self.j < len(s) and s[self.j] in " \t":
                self.j += 1
            if self.j < len(s) and s[self.j] == "#" and (self.j == 0 or s[self.j - 1] in " \t"):
                self.j = len(s)
            if self.j < len(s):
                return
            # End of line: only continue inside an open collection.
            if self.depth_open == 0:
                return
            self.li += 1
            self.j = 0
        raise self.p.error("unterminated flow collection", self.start_li, self.start_j)

    def parse_node(self) -> Any:
        if self.depth > _MAX_DEPTH:
            raise self.p.error("nesting is too deep", self.li, self.j)
        self.skip_ws()
        c = self.cur()
        if c == "[":
            return self.parse_seq()
        if c == "{":
            return self.parse_map()
        if c and c in "\"'":
            return self.parse_quoted()
        if c and c in "&*":
            raise self.p.error("anchors and aliases are not supported", self.li, self.j)
        s = self.p.lines[self.li]
        if c == "?":  # an explicit key (or, to YAML 1.1 parsers, one): refuse
            raise self.p.error("complex keys ('?') are not supported", self.li, self.j)
        if c and (c in "#|>%@`" or (c == "-" and (self.j + 1 >= len(s) or s[self.j + 1] in " \t"))):
            raise self.p.error(f"a plain value cannot start with {c!r} (quote it)",
                               self.li, self.j)
        if c == "!":
            raise self.p.error("tags are not supported", self.li, self.j)
        return self.parse_plain()

    def parse_seq(self) -> list:
        self.j += 1
        self.depth_open += 1
        self.depth += 1
        out = []
        while True:
            self.skip_ws()
            c = self.cur()
            if c == "]":
                self.j += 1
                break
            if c == ",":
                raise self.p.error("empty entry in a flow sequence", self.li, self.j)
            item = self.parse_node()
            self.skip_ws()
            if self.cur() == ":":
                raise self.p.error("'key: value' pairs inside [] are not supported", self.li, self.j)
            out.append(item)
            self.skip_ws()
            c = self.cur()
            if c == ",":
                self.j += 1
            elif c != "]":
                raise self.p.error("expected ',' or ']'", self.li, self.j)
        self.depth_open -= 1
        self.depth -= 1
        return out

    def parse_map(self) -> dict:
        self.j += 1
        self.depth_open += 1
        self.depth += 1
        out: dict = {}
        while True:
            self.skip_ws()
            if self.cur() == "}":
                self.j += 1
                break
            if self.cur() == ",":
                raise self.p.error("empty entry in a flow mapping", self.li, self.j)
            kl, kj = self.li, self.j
            key = self.parse_node()
            if isinstance(key, (list, dict)):
                raise self.p.error("unsupported mapping key", kl, kj)
            self.skip_ws()
            if self.cur() == ":":
                self.j += 1
                self.skip_ws()
                if self.cur() in (",", "}"):
                    value = None
                else:
                    value = self.parse_node()
            else:
                value = None
            if key in out:
                raise self.p.error(f"duplicate key {key!r}", kl, kj)
            out[key] = value
            self.skip_ws()
            c = self.cur()
            if c == ",":
                self.j += 1
            elif c != "}":
                raise self.p.error("expected ',' or '}'", self.li, self.j)
        self.depth_open -= 1
        self.depth -= 1
        return out

    def parse_quoted(self) -> str:
        s = self.p.lines[self.li]
        q = s[self.j]
        start_li, start_j = self.li, self.j
        k = self.j + 1
        buf = []
        while True:
            if k >= len(s):
                # Quoted scalars may span lines inside flow collections: a
                # line break folds to a space, blank lines to line breaks, and
                # an escaped line break ("\\" at the end) to nothing.
                escaped = q == '"' and buf and buf[-1] == "\\"
                if escaped:
                    buf.pop()
                else:
                    while buf and buf[-1] in (" ", "\t"):
                        buf.pop()
                blanks = 0
                while True:
                    self.li += 1
                    if self.li >= len(self.p.lines):
                        raise self.p.error("unterminated quoted string", start_li, start_j)
                    s = self.p.lines[self.li]
                    if s.strip(" \t"):
                        break
                    blanks += 1
                if not escaped:
                    buf.append("\n" * blanks if blanks else " ")
                k = len(s) - len(s.lstrip(" \t"))
                continue
            ch = s[k]
            if q == '"' and ch == "\\" and k + 1 < len(s):
                buf.append(s[k:k + 2])
                k += 2
                continue
            if ch == q:
                if q == "'" and k + 1 < len(s) and s[k + 1] == "'":
                    buf.append("'")
                    k += 2
                    continue
                break
            buf.append(ch)
            k += 1
        self.j = k + 1
        raw = "".join(buf)
        return self.p._unescape_double(raw, start_li, start_j + 1) if q == '"' else raw

    def parse_plain(self) -> Any:
        s = self.p.lines[self.li]
        k = self.j
        while k < len(s):
            ch = s[k]
            if ch in ",[]{}":
                break
            if ch == ":" and (k + 1 >= len(s) or s[k + 1] in " \t,[]{}"):
                break
            if ch == "#" and k > 0 and s[k - 1] in " \t":
                break
            k += 1
        text = s[self.j:k].strip(" \t")
        if text == "" and self.cur() not in (",", "]", "}", ":"):
            raise self.p.error("expected a value", self.li, self.j)
        self.j = k
        return _resolve_plain(text)


def loads(text: str, filename: str | None = None) -> Any:
    """Parse one YAML document from ``text``; raise :class:`YAMLError`."""
    if not isinstance(text, str):
        raise TypeError("loads() takes a str")
    return _Parser(text, filename).parse()


def load(path: str) -> Any:
    """Parse the YAML file at ``path``; errors name the file."""
    with open(path, encoding="utf-8") as f:
        return loads(f.read(), filename=path)
