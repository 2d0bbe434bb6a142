"""Documentation markup (reStructuredText, Markdown) reduced to prose for pre-training.

What a reader of the rendered page reads stays: paragraphs, list items, definition terms and
bodies, block quotes, the text of admonitions (``.. note::``, ``.. warning::``), and headings,
each heading as its own short paragraph (a title is a sentence-like fragment of the document,
as a chapter heading is in a book). What a reader does not read as prose goes: directives and
their bodies (``toctree``, ``image``, ``kernel-doc``, ``math``...), comments, link targets,
footnotes, substitution definitions, field lists (``:Author:`` metadata), tables, section
adornments and transitions; code (literal blocks after ``::``, ``code-block``, doctests, fenced
and indented Markdown code) unless ``keep_code``, which keeps each block as one paragraph with
its lines. Inline markup is reduced to its visible text: ````x```` -> x, ``:ref:`text <t>``` ->
text, ``:c:func:`f``` -> f, ```link <url>`_`` -> link, ``**b**`` -> b.

docutils is not a dependency, and a full parse is not needed to find prose, so the
reStructuredText reduction is line-based: one pass over the lines, a few regular expressions
per line. Markdown goes through markdown-it-py's CommonMark parser (already installed with rich).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from markdown_it import MarkdownIt

__all__ = ["rst_to_text", "markdown_to_text", "rst_title", "markdown_title"]

# Directives whose body is prose the rendered page shows as text.
_PROSE_DIRECTIVES = frozenset(
    "note warning tip hint important attention caution danger error admonition seealso topic "
    "sidebar rubric only container versionadded versionchanged deprecated epigraph".split()
)
# Of those, the ones whose argument is not text on the page (a condition, a class, a version).
_HIDDEN_ARGUMENT = frozenset("only container versionadded versionchanged deprecated".split())
_CODE_DIRECTIVES = frozenset("code-block code sourcecode highlight-block".split())

_DIRECTIVE = re.compile(r"\.\.\s+([\w:.+-]+)::\s*(.*)")
_EXPLICIT = re.compile(r"\.\.(?:\s|$)")
_ADORNMENT = re.compile(r"([!-/:-@\[-`{-~])\1+")
_SIMPLE_TABLE = re.compile(r"=+(?: +=+)+")
_GRID_TABLE = re.compile(r"\+[-=]+\+")
_FIELD = re.compile(r":[^:`\s][^:`]*:(?:\s|$)")
_OPTION = re.compile(r"\s*:[\w-]+:")
_BULLET = re.compile(r"(?:[-*+\u2022]|\d+[.)]|#[.)]|\(\d+\)|\(?[a-z]\))\s+")


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index of the first non-blank line at or after ``start`` indented by ``indent`` or less."""
    for i in range(start, len(lines)):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            return i
    return len(lines)


def _code(lines: list[str]) -> str:
    """A code block as one paragraph: dedented, blank lines dropped."""
    rows = [line.rstrip() for line in lines if line.strip()]
    cut = min((len(r) - len(r.lstrip()) for r in rows), default=0)
    return "\n".join(r[cut:] for r in rows)


def _rst_blocks(lines: list[str], keep_code: bool) -> Iterator[tuple[str, str]]:
    """Yield ``("text" | "code", block)`` for the prose and code of reStructuredText lines."""
    para: list[str] = []
    para_indent = last = 0
    literal_at: int | None = None  # indent of a paragraph that ended in "::"
    i, n = 0, len(lines)

    def flush() -> Iterator[tuple[str, str]]:
        nonlocal literal_at
        if para:
            text = " ".join(para)
            para.clear()
            if text.endswith("::"):
                literal_at = para_indent
                # "Text::" reads "Text:"; a lone or space-separated "::" disappears.
                text = text[:-2].rstrip() if text == "::" or text.endswith(" ::") else text
                text = text.rstrip(":") + ":" if text.endswith("::") else text
            if text:
                yield "text", text

    while i < n:
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or (para and indent != para_indent):
            yield from flush()
            if not stripped:
                i += 1
                continue
        if literal_at is not None and not para and indent > literal_at:
            end = _block_end(lines, i, literal_at)
            if keep_code:
                yield "code", _code(lines[i:end])
            literal_at, i = None, end
            continue
        literal_at = None
        if _EXPLICIT.match(stripped):
            yield from flush()
            directive = _DIRECTIVE.match(stripped)
            name = directive.group(1).lower() if directive else ""
            end = _block_end(lines, i + 1, indent)
            if name in _PROSE_DIRECTIVES:
                # Keep the argument (a note's first line, a topic's title); parse the body.
                if directive.group(2) and name not in _HIDDEN_ARGUMENT:
                    yield "text", directive.group(2)
                end = i + 1
            elif name in _CODE_DIRECTIVES and keep_code:
                body = [b for b in lines[i + 1 : end] if not _OPTION.match(b)]
                yield "code", _code(body)
            i = end
        elif _GRID_TABLE.match(stripped) or _SIMPLE_TABLE.fullmatch(stripped):
            yield from flush()
            grid = stripped.startswith("+")
            j = i + 1
            while j < n:
                row = lines[j].strip()
                if grid and not row:
                    break
                j += 1
                # A simple table ends with a border followed by a blank line.
                if not grid and _SIMPLE_TABLE.fullmatch(row) and not (j < n and lines[j].strip()):
                    break
            i = j
        elif _ADORNMENT.fullmatch(stripped) and stripped != "::":
            below = lines[i + 2].strip() if i + 2 < n else ""
            if not para and below[:1] == stripped[0] and _ADORNMENT.fullmatch(below):
                yield "text", lines[i + 1].strip()  # overlined title
                i += 3
                continue
            heading = para.pop() if para and last == i - 1 else None
            yield from flush()
            if heading:
                yield "text", heading
            i += 1
        elif not para and _FIELD.match(stripped):
            i = _block_end(lines, i + 1, indent)
        elif not para and stripped.startswith(">>>"):
            end = next((j for j in range(i, n) if not lines[j].strip()), n)
            if keep_code:
                yield "code", _code(lines[i:end])
            i = end
        else:
            bullet = _BULLET.match(stripped)
            if bullet:
                yield from flush()
                stripped = stripped[bullet.end() :]
            elif stripped.startswith("| "):
                stripped = stripped[2:]
            if not para:
                para_indent = indent + (bullet.end() if bullet else 0)
            para.append(stripped)
            last = i
            i += 1
    yield from flush()


_LITERAL = re.compile(r"(``.+?``)")
_ROLE = re.compile(r":[\w:+.-]+:`([^`]*)`|`([^`]*)`:[\w:+.-]+:")
_TARGETED = re.compile(r"^(.*?)\s*<[^<>]*>$", re.DOTALL)
_REFERENCE = re.compile(r"`([^`]*)`(?:__?)?")
_FOOTNOTE_REF = re.compile(r"\s?\[(?:\d+|#[\w-]*|\*|[A-Za-z][\w.-]*)\]_")
_SUBSTITUTION = re.compile(r"\|(\w[\w.-]*)\|")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])")
_ESCAPE = re.compile(r"\\(?: |([^\w\s]))")


def _visible(match: re.Match) -> str:
    """The text a role or hyperlink reference shows: ``text <target>`` -> text, ``~a.b`` -> b."""
    content = match.group(1) if match.group(1) is not None else match.group(2) or ""
    targeted = _TARGETED.match(content)
    if targeted and targeted.group(1):
        return targeted.group(1)
    if targeted:  # a bare `<url>`_: nothing a reader would call prose
        return ""
    return content.rsplit(".", 1)[-1] if content.startswith("~") else content.lstrip("!")


def _rst_inline(text: str) -> str:
    """Reduce inline markup to its text; ````literals```` are copied, never re-interpreted."""
    parts = _LITERAL.split(text)
    for k in range(0, len(parts), 2):
        part = _FOOTNOTE_REF.sub("", parts[k])
        part = _REFERENCE.sub(_visible, _ROLE.sub(_visible, part))
        part = _EMPHASIS.sub(r"\1", _STRONG.sub(r"\1", _SUBSTITUTION.sub(r"\1", part)))
        parts[k] = _ESCAPE.sub(r"\1", part)
    for k in range(1, len(parts), 2):
        parts[k] = parts[k][2:-2]
    return "".join(parts)


def rst_to_text(text: str, *, keep_code: bool = False) -> str:
    """Reduce a reStructuredText document to prose paragraphs.

    Args:
        text: The document (any line endings; tabs expand to 8 columns, as in docutils).
        keep_code: Keep literal blocks, ``code-block`` bodies and doctests, each as one
            paragraph with its line breaks (default False: drop them).

    Returns:
        The paragraphs joined by ``"\\n\\n"``; ``""`` when nothing is prose.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).split("\n")
    blocks = (
        block if kind == "code" else " ".join(_rst_inline(block).split())
        for kind, block in _rst_blocks(lines, keep_code)
    )
    return "\n\n".join(b for b in blocks if b)


_TITLE_RST = re.compile(r"^(\S[^\n]*)\n([=\-~^\"'`#*+<>_])\2+[ \t]*$", re.MULTILINE)


def rst_title(text: str) -> str | None:
    """Return the first section title of a reStructuredText document (inline markup reduced)."""
    match = _TITLE_RST.search(text.replace("\r\n", "\n"))
    return " ".join(_rst_inline(match.group(1)).split()) if match else None


_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)\n.*?\n\1[ \t]*(?:\n|\Z)", re.DOTALL)
_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)
_INLINE_TEXT = frozenset(("text", "code_inline", "softbreak", "hardbreak"))


def _markdown_tokens(text: str):
    """Block tokens of a Markdown document, without its YAML/TOML front matter."""
    return _MARKDOWN.parse(_FRONT_MATTER.sub("", text.replace("\r\n", "\n")))


def markdown_to_text(text: str, *, keep_code: bool = False) -> str:
    """Reduce a Markdown (CommonMark with tables) document to prose paragraphs.

    Headings, paragraphs and list items become paragraphs; links keep their text; images,
    tables, HTML tags and comments, front matter and rules go; fenced and indented code goes
    unless ``keep_code``, which keeps each block as one paragraph.

    Args:
        text: The document.
        keep_code: Keep code blocks (default False).

    Returns:
        The paragraphs joined by ``"\\n\\n"``; ``""`` when nothing is prose.
    """
    paragraphs: list[str] = []
    in_table = 0
    for token in _markdown_tokens(text):
        if token.type in ("table_open", "table_close"):
            in_table += 1 if token.type == "table_open" else -1
        elif in_table:
            continue
        elif token.type == "inline":
            # Children of an image (its alt text) are not visited: images are dropped.
            words = (c.content if c.type in ("text", "code_inline") else " "
                     for c in token.children or () if c.type in _INLINE_TEXT)
            paragraphs.append(" ".join("".join(words).split()))
        elif token.type == "html_block":
            paragraphs.append(" ".join(_TAG.sub(" ", token.content).split()))
        elif token.type in ("fence", "code_block") and keep_code:
            paragraphs.append(_code(token.content.split("\n")))
    return "\n\n".join(p for p in paragraphs if p)


def markdown_title(text: str) -> str | None:
    """Return the text of the first heading of a Markdown document, or None."""
    tokens = _markdown_tokens(text)
    for k, token in enumerate(tokens[:-1]):
        if token.type == "heading_open":
            title = " ".join(
                c.content for c in tokens[k + 1].children or () if c.type in ("text", "code_inline")
            )
            return " ".join(title.split()) or None
    return None
