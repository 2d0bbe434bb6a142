"""Wikitext to plain prose, keeping the text that inline templates show.

Other extractors drop every template and with it the numbers, dates and names a reader sees
("a {{convert|5|km|mi}} walk", "born {{birth date|1809|2|12}}"). Here markup whose content is
dropped anyway is cut by linear scans; headings, end-matter sections, list markers and links
without markup inside are rendered with regular expressions (they are most of a page's nodes, and
building mwparserfromhell's tree for them would take most of the run time); what is left (inline
templates, HTML tags, external links, entities, links with markup inside) is parsed once with
mwparserfromhell and the node tree walked into a list of strings. Templates are rendered by
``electra_data.wiki_templates`` (a function per template name) or dropped. Paragraphs are
separated by one blank line and each list item is a paragraph. Dropped: headings, references,
tables (unless ``keep_tables``), files and images with captions, categories, interlanguage links,
comments, magic words, galleries, code, unlabelled external links and end-matter sections
(References, See also, ...). Pronunciations stay as a reader sees them (``{{IPAc-en|ˈ|æ|n}}`` ->
"/ˈæn/"): dropping them left sentences such as "pronounced or". ``<math>`` becomes ``[math]``:
removing it leaves broken sentences ("where  is the speed of light"), which would teach the
model wrong syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Tag, Template, Text, Wikilink

from electra_data.wiki_templates import ITEM, LANG_PREFIX, PARA, formatnum, lookup

__all__ = ["wikitext_to_text", "MATH_PLACEHOLDER"]

MATH_PLACEHOLDER = "[math]"

# "\x01" marks a formula in the text given to the parser and in the rendered buffer, as ITEM
# marks a list item: XML 1.0 cannot carry it, so no page text contains it. ("\x00" would end the
# parser's input.)
_MATH = "\x01"

_DROP_TAGS = frozenset(("ref", "references", "table"))  # the ones _STRIP leaves to the parser
_ITEM_TAGS = frozenset(("li", "dt", "dd"))
_BLOCK_TAGS = frozenset("p div blockquote poem center hr ul ol dl".split())
_DROP_LINK_PREFIXES = frozenset(("file", "image", "media", "category"))
_INTERPROJECT = frozenset(
    "wikt wiktionary s wikisource q wikiquote b wikibooks n wikinews v wikiversity voy wikivoyage "
    "c commons d wikidata m meta mw species wikispecies w wikipedia wp".split())
_END_SECTIONS = frozenset(
    "references|external links|see also|further reading|notes|bibliography|sources|citations|"
    "footnotes|notes and references|references and notes|works cited|general references".split("|")
)

def _render_template(node: Template, out: list[str]) -> None:
    renderer = lookup(str(node.name))
    if renderer is None:
        return  # infobox, navbox, citation, maintenance tag, parser function, ...
    if renderer is formatnum and ":" in str(node.name):  # {{formatnum: 3003}}
        out.append(formatnum([_render(node.name).partition(":")[2].strip()], {}))
        return
    numbered: dict[int, str] = {}
    named: dict[str, str] = {}
    for param in node.params:
        value = _render(param.value).strip()
        key = str(param.name).strip()
        if key.isdigit():  # unnamed parameters carry their implicit number as name
            numbered[int(key)] = value
        else:
            named[key.lower()] = value
    positional = [numbered.get(i, "") for i in range(1, max(numbered, default=0) + 1)]
    out.append(renderer(positional, named))


def _is_dropped_link(title: str, labelled: bool) -> bool:
    """Whether a link shows nothing: files and images (captions too), categories, interlanguage."""
    prefix, colon, _ = title.partition(":")
    if not colon or not prefix.strip():  # [[:Category:X]] and [[:de:X]] are visible links
        return False
    prefix = prefix.strip().lower()
    if prefix in _DROP_LINK_PREFIXES:
        return True
    return not labelled and prefix not in _INTERPROJECT and bool(LANG_PREFIX.fullmatch(prefix))


def _link_text(title: str, label: str | None) -> str:
    """What a visible link shows: its rendered label, else its title."""
    if label is not None and label.strip():
        return label
    title = title.removeprefix(":")
    if label is not None:  # pipe trick: [[Paris (band)|]] shows "Paris"
        title = re.sub(r"\s*\(.*\)$", "", title)
    return title


def _render_link(node: Wikilink, out: list[str]) -> None:
    title = str(node.title).strip()
    if not _is_dropped_link(title, node.text is not None):
        out.append(_link_text(title, None if node.text is None else _render(node.text)))


def _render_tag(node: Tag, out: list[str]) -> None:
    tag = str(node.tag).strip().lower()
    if tag in _DROP_TAGS:
        return
    block = tag in _BLOCK_TAGS
    out.append(ITEM if tag in _ITEM_TAGS else PARA if block else " " if tag == "br" else "")
    if node.contents is not None:
        _walk(node.contents.nodes, out)
    if block:
        out.append(PARA)


def _walk(nodes: list, out: list[str]) -> None:
    for node in nodes:
        kind = type(node)  # exact type checks: this loop runs for every node of every page
        if kind is Text:
            out.append(node.value)
        elif kind is Wikilink:
            _render_link(node, out)
        elif kind is Template:
            _render_template(node, out)
        elif kind is Tag:
            _render_tag(node, out)
        elif kind is ExternalLink:
            if node.title is not None:  # a bare or numbered link [http://x] shows no words
                _walk(node.title.nodes, out)
        elif kind is HTMLEntity:
            out.append(node.normalize())
        elif kind is Heading:
            out.append(PARA)
        # Comments and template arguments ({{{1}}}, only in templates) render to nothing.


def _render(code) -> str:
    out: list[str] = []
    _walk(code.nodes, out)
    return "".join(out)


# Cutting dropped markup before parsing: it is most of a page's bytes (references full of
# citation templates, tables, infoboxes), and parsing it would dominate the run time.
# One leading "<" for all the alternatives lets the regex engine skip to the next "<".
_STRIP = re.compile(
    r"<(?:!--.*?(?:-->|$)"
    r"|(ref|references)\b(?:[^>]*?/>|[^>]*>.*?</\1\s*>)"
    r"|(pre|syntaxhighlight|source|gallery|timeline|imagemap|score|graph|hiero|templatedata"
    r"|includeonly|noinclude|mapframe|maplink|inputbox|indicator)\b"
    r"[^>]*>.*?</\2\s*>"
    r"|(math)\b[^>]*>.*?</math\s*>)",
    re.DOTALL | re.IGNORECASE,
)
_TABLE_EDGE = re.compile(r"^[ :]*(\{\||\|\})", re.MULTILINE)
_CELL_LIST_MARK = re.compile(r"^[*#:;]+\s*")
_BRACES = re.compile(r"\{\{|\}\}")
_NAME_END = re.compile(r"[|}]")


def _replace_balanced(text: str, edges: re.Pattern, opener: str, replace: Callable[[int, int], str | None]) -> str:
    """Replace the outermost balanced spans from ``opener`` to its closer by ``replace(start, end)``.

    A span for which ``replace`` returns None stays as it is.
    """
    pieces, depth, start, last = [], 0, 0, 0
    for match in edges.finditer(text):
        if match.group(match.lastindex or 0) == opener:
            depth += 1
            start = match.start() if depth == 1 else start
        elif depth:  # a closer without an opener is left as text
            depth -= 1
            if depth == 0 and (replacement := replace(start, match.end())) is not None:
                pieces.append(text[last:start])
                pieces.append(replacement)
                last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def _cut_balanced(text: str, edges: re.Pattern, opener: str, drop: Callable[[int, int], bool]) -> str:
    """Cut the outermost balanced spans from ``opener`` to its closer for which ``drop`` holds."""
    return _replace_balanced(text, edges, opener, lambda start, end: "" if drop(start, end) else None)


def _is_caption(cell: Tag) -> bool:
    # the parser reads a caption line (|+ ...) as a cell whose contents start with "+"
    return cell.wiki_markup == "|" and cell.contents is not None and str(cell.contents).startswith("+")


def _cell_text(cell: Tag) -> str:
    """A cell's wikitext on one line: nested tables cut, list items joined by commas."""
    if cell.contents is None:
        return ""
    text = _cut_balanced(str(cell.contents), _TABLE_EDGE, "{|", lambda start, end: True)
    text = text.removeprefix("+") if _is_caption(cell) else text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    items = [_CELL_LIST_MARK.sub("", line) for line in lines]
    return (", " if items != lines else " ").join(" ".join(item.split()) for item in items)


def _table_rows(table: str) -> str:
    """A wikitable as wikitext paragraphs: the caption, then one a row, cells joined by " | ".

    The cells keep their markup (links, templates), which is rendered with the rest of the page;
    a table inside a cell is dropped there.
    """
    nodes = mwparserfromhell.parse(table.lstrip(" :")).nodes  # an indented table starts with ":"
    if not nodes or type(nodes[0]) is not Tag or nodes[0].contents is None:
        return ""
    rows: list[list[str]] = [[]]  # cells before the first |- are a row of their own
    for node in nodes[0].contents.nodes:
        if type(node) is Tag and node.tag == "tr" and node.contents is not None:
            rows.append([_cell_text(c) for c in node.contents.nodes if type(c) is Tag and c.tag in ("td", "th")])
        elif type(node) is Tag and node.tag in ("td", "th"):
            if _is_caption(node):
                rows[-1:] = [[_cell_text(node)], rows[-1]]
            else:
                rows[-1].append(_cell_text(node))
    return "".join(PARA + " | ".join(c for c in row if c) for row in rows if any(row)) + PARA


def _prestrip(text: str, keep_tables: bool) -> str:
    """Remove comments, refs, code, galleries, tables (or all but their cells) and unrenderable
    templates; mark math."""
    text = _STRIP.sub(lambda m: _MATH if m.group(3) else "", text)
    text = _replace_balanced(
        text, _TABLE_EDGE, "{|", lambda start, end: _table_rows(text[start:end]) if keep_tables else ""
    )

    def unrenderable(start: int, end: int) -> bool:
        return lookup(text[start + 2 : _NAME_END.search(text, start + 2, end).start()]) is None

    return _cut_balanced(text, _BRACES, "{{", unrenderable)


# Line starts are matched as "\n", which the regex engine finds much faster than "^" in
# multi-line mode; _prerender puts one before the first line.
_HEADING = re.compile(r"\n(=+)(.+)\1[ \t]*$", re.MULTILINE)
# "; term : definition" shows the definition as an item of its own; a colon inside a link, a
# template, an external link or after a URL's scheme is not the separator.
_TERM = re.compile(
    r"(\n[*#:]*;(?:\[\[[^\]\n]*\]\]|\{\{[^}\n]*\}\}|\[[^\]\n]*\]|\w+://|[^:\n])*+):")
_LIST_MARKS = re.compile(r"\n[*#:;]+")
# A link whose title and label are plain text. "=" and "|" are left to the parser: inside a
# template argument they would split it or name it once the brackets are gone.
_PLAIN_LINK = re.compile(r"\[\[([^\[\]{}<>|=\n]+)(?:\|([^\[\]{}<>|=]*))?\]\]")
_LINK_EDGES = re.compile(r"\[\[|\]\]")


def _cut_sections(text: str) -> str:
    """Headings become paragraph breaks; end-matter sections go with their subsections."""
    kept, start, skip_level = [], 0, 0
    for heading in _HEADING.finditer(text):
        level = len(heading.group(1))
        if skip_level and level > skip_level:
            continue
        if not skip_level:
            kept.append(text[start : heading.start()])
        kept.append(PARA)
        title = " ".join(heading.group(2).split()).strip(" ='").lower()
        skip_level = level if title in _END_SECTIONS else 0
        start = heading.end()
    if not skip_level:
        kept.append(text[start:])
    return "".join(kept)


def _plain_link(match: re.Match) -> str:
    title = match.group(1).strip()
    label = match.group(2)
    return "" if _is_dropped_link(title, label is not None) else _link_text(title, label)


def _prerender(text: str) -> str:
    """Render what needs no parse: headings, end matter, list markers and plain links.

    Links and list items are most of a page's nodes; building mwparserfromhell's tree for them
    took about two thirds of the run time. A link with markup inside is left to the parser.
    """
    text = _cut_sections("\n" + text)
    text = _TERM.sub(r"\1" + ITEM, text)
    text = _LIST_MARKS.sub(ITEM, text)
    text = _PLAIN_LINK.sub(_plain_link, text)

    def dropped(start: int, end: int) -> bool:  # e.g. files whose captions held links
        title, bar, _ = text[start + 2 : end - 2].partition("|")
        return _is_dropped_link(title.strip(), bool(bar))

    return _cut_balanced(text, _LINK_EDGES, "[[", dropped)


def _strip_quotes(line: str) -> str:
    """Drop the bold/italic apostrophe runs of one line, reading them as MediaWiki does.

    The parser skips style tags: its style pass is slow and, on unbalanced quotes, leaves the
    markup of the links that follow. With an odd number of both italic and bold marks, one
    ``'''`` is an apostrophe and ``''`` ("''Iliad'''s" reads "Iliad's").
    """
    runs = list(_QUOTES.finditer(line))
    italics = sum(len(r.group()) == 2 or len(r.group()) >= 5 for r in runs)
    bolds = sum(len(r.group()) >= 3 for r in runs)
    apostrophe_at = -1
    if italics % 2 and bolds % 2:
        threes = [r.start() for r in runs if len(r.group()) == 3]
        glued = [i for i in threes if i and line[i - 1] != " "]
        apostrophe_at = (glued or threes or [-1])[0]
    return _QUOTES.sub(
        lambda r: "'" if r.start() == apostrophe_at else "'" * max(len(r.group()) - 5, 0), line
    )


_QUOTES = re.compile(r"'{2,}")
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
# Brackets, separators and spaces left behind by dropped references and pronunciations.
_TIDY = (
    (re.compile(r"\((?: |[,;:] ?)+"), "("),
    (re.compile(r"[,;:][ ,;:]*\)"), ")"),
    (re.compile(r"\(\) ?"), ""),
    (re.compile(r" +([,;:!?)\]]|\.(?!\.))"), r"\1"),  # "word ..." keeps its space
)
_WORDLIKE = re.compile(r"\w")
_QUOTED_LINE = re.compile(r"^.*''.*$", re.MULTILINE)
# An item inside a list template's item ({{plainlist|* a}}) carries two markers, or one
# without a newline once the argument is stripped.
_ITEM_LINE = re.compile(r"\x02+([^\n]*)")
_BLANK_LINE = re.compile(r"\n\s*\n")


def wikitext_to_text(wikitext: str, *, keep_tables: bool = False) -> str:
    """Convert one page of wikitext into plain prose.

    Args:
        wikitext: The page source, as in ``Page.text``.
        keep_tables: Keep the text of table cells, a paragraph per row with cells joined by
            " | " (tables are dropped by default: their rows are not prose).

    Returns:
        Paragraphs separated by one blank line, each one line with single spaces; ``""`` when
        nothing readable is left.
    """
    code = mwparserfromhell.parse(_prerender(_prestrip(wikitext, keep_tables)), skip_style_tags=True)
    out: list[str] = []
    _walk(code.nodes, out)
    text = _MAGIC_WORD.sub("", "".join(out)).replace(_MATH, MATH_PLACEHOLDER)
    text = _QUOTED_LINE.sub(lambda m: _strip_quotes(m.group()), text)
    # One newline continues a paragraph and a blank line ends it; a list item stands alone.
    text = _ITEM_LINE.sub(r"\n\n\1\n\n", text)
    text = "\n\n".join(" ".join(p.split()) for p in _BLANK_LINE.split(text))
    for pattern, repl in _TIDY:
        text = pattern.sub(repl, text)
    return "\n\n".join(p for p in text.split("\n\n") if _WORDLIKE.search(p))
