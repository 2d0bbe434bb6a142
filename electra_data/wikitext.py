"""Wikitext to plain prose, keeping the text that inline templates show.

Other extractors drop every template and with it the numbers, dates and names a reader sees
("a {{convert|5|km|mi}} walk", "born {{birth date|1809|2|12}}"). Here markup whose content is
dropped anyway is cut by linear scans; headings, end-matter sections, list markers and links
without markup inside are rendered with regular expressions (they are most of a page's nodes, and
building mwparserfromhell's tree for them would take most of the run time); what is left (inline
templates, HTML tags, external links, entities, links with markup inside) is parsed once with
mwparserfromhell and the node tree walked into a list of strings. Templates are rendered by
:data:`TEMPLATES` (a dict from normalised name to a small function) or dropped. Paragraphs are
separated by one blank line and each list item is a paragraph. Dropped: headings, references,
tables, files and images with captions, categories, interlanguage links, comments, magic words,
galleries, code, unlabelled external links and end-matter sections (References, See also, ...).
Pronunciations stay as a reader sees them (``{{IPAc-en|ˈ|æ|n}}`` -> "/ˈæn/"): dropping them left
sentences such as "pronounced or". ``<math>`` becomes ``[math]``:
removing it leaves broken sentences ("where  is the speed of light"), which would teach the
model wrong syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Tag, Template, Text, Wikilink

__all__ = ["wikitext_to_text", "TEMPLATES", "MATH_PLACEHOLDER"]

MATH_PLACEHOLDER = "[math]"

# "\x02" marks a list item's start and "\x01" a formula, in the text given to the parser and in
# the rendered buffer; XML 1.0 cannot carry either, so no page text contains them. ("\x00" would
# end the parser's input.)
_ITEM = "\n\x02"
_MATH = "\x01"
_PARA = "\n\n"

_DROP_TAGS = frozenset(("ref", "references", "table"))  # the ones _STRIP leaves to the parser
_ITEM_TAGS = frozenset(("li", "dt", "dd"))
_BLOCK_TAGS = frozenset("p div blockquote poem center hr ul ol dl".split())
_DROP_LINK_PREFIXES = frozenset(("file", "image", "media", "category"))
_INTERPROJECT = frozenset(
    "wikt wiktionary s wikisource q wikiquote b wikibooks n wikinews v wikiversity voy wikivoyage "
    "c commons d wikidata m meta mw species wikispecies w wikipedia wp".split())
_LANG_PREFIX = re.compile(r"[a-z]{2,3}(?:-[a-z]{2,8})*")
_END_SECTIONS = frozenset(
    "references|external links|see also|further reading|notes|bibliography|sources|citations|"
    "footnotes|notes and references|references and notes|works cited|general references".split("|")
)

# Template renderers. Each takes the rendered positional arguments (in order, "" for gaps) and
# the rendered named arguments (lower-cased keys) and returns the text the template shows.
Renderer = Callable[[list[str], dict[str, str]], str]

_MONTHS = "January February March April May June July August September October November December"
_MONTH_NAMES = _MONTHS.split()
_YES = frozenset(("y", "yes", "on", "true", "1"))


def _arg(pos: list[str], i: int) -> str:
    return pos[i] if len(pos) > i else ""


def _date(pos: list[str], named: dict[str, str]) -> str:
    """Year, month, day as "March 3, 1950" or, with df=y, "3 March 1950"; free text as is."""
    year, month, day = _arg(pos, 0), _arg(pos, 1), _arg(pos, 2)
    if not (month.isdigit() and 1 <= int(month) <= 12):
        return " ".join(x for x in (year, month, day) if x)  # {{start-date|July 16, 1969}}
    name = _MONTH_NAMES[int(month) - 1]
    if not day.isdigit():
        return f"{name} {year}"
    dmy = named.get("df", "").lower() in _YES or named.get("format") == "dmy"
    return f"{int(day)} {name} {year}" if dmy else f"{name} {int(day)}, {year}"


def _formatnum(pos: list[str], named: dict[str, str]) -> str:
    whole, dot, fraction = _arg(pos, 0).partition(".")
    return f"{int(whole):,}{dot}{fraction}" if whole.lstrip("-").isdigit() else _arg(pos, 0)


def _date_and_age(pos: list[str], named: dict[str, str]) -> str:
    """``{{death date and age|death y|m|d|birth y|m|d}}``: the date and "(aged N)"."""
    ymd = [int(x) for x in pos[:6] if x.isdigit()]
    if len(ymd) < 6:
        return _date(pos, named)
    age = ymd[0] - ymd[3] - ((ymd[1], ymd[2]) < (ymd[4], ymd[5]))
    return f"{_date(pos, named)} (aged {age})"


# Convert's unit codes as "code=singular name=symbol" ("_" for a space); no name: symbol only.
_UNITS = {
    code: (name.replace("_", " ") or None, symbol.replace("_", " "))
    for code, name, symbol in (spec.split("=") for spec in """
    m=metre=m km=kilometre=km cm=centimetre=cm mm=millimetre=mm mi=mile=mi ft=foot=ft in=inch=in
    yd=yard=yd nmi=nautical_mile=nmi km2=square_kilometre=km² sqkm=square_kilometre=km²
    m2=square_metre=m² ha=hectare=ha sqmi=square_mile=sq_mi mi2=square_mile=sq_mi acre=acre=acre
    sqft=square_foot=sq_ft ft2=square_foot=sq_ft kg=kilogram=kg g=gram=g t=tonne=t lb=pound=lb
    oz=ounce=oz km/h=kilometre_per_hour=km/h mph=mile_per_hour=mph kn=knot=kn L=litre=L l=litre=L
    m/s=metre_per_second=m/s ml=millilitre=ml m3=cubic_metre=m³ km3=cubic_kilometre=km³
    cuft=cubic_foot=cu_ft USgal=US_gallon=US_gal impgal=imperial_gallon=imp_gal kW=kilowatt=kW
    MW=megawatt=MW hp=horsepower=hp oilbbl=barrel=bbl AU=astronomical_unit=AU ly=light-year=ly
    C==°C °C==°C F==°F °F==°F K==K
    """.split())
}
_PLURAL = {"foot": "feet", "inch": "inches", "horsepower": "horsepower"}
_RANGE = {"to": "to", "to(-)": "to", "-": "–", "–": "–", "and": "and", "and(-)": "and", "or": "or",
          "by": "by", "x": "×", "×": "×", "+/-": "±", "±": "±", "+": "+"}
_MIXED_SECOND = frozenset(("in", "ft", "oz", "lb"))


def _unit(code: str, value: str, shown: str, named: dict[str, str]) -> str:
    """``shown`` (the number or range) with the unit as convert shows its input."""
    name, symbol = _UNITS.get(code, (None, code))
    if name is None or named.get("abbr") in ("on", "in", "values"):
        return f"{shown} {symbol}"
    if named.get("adj") == "on":
        return f"{shown}-{name}"
    if value not in ("1", "one"):  # "per hour" units pluralise their first word
        head, sep, tail = name.partition(" per ")
        name = _PLURAL.get(head, head + "s") + sep + tail
    if named.get("sp") == "us":
        name = name.replace("metre", "meter").replace("litre", "liter")
    return f"{shown} {name}"


def _convert(pos: list[str], named: dict[str, str]) -> str:
    """``{{convert|5|to|10|km|mi}}`` -> "5 to 10 kilometres"; the converted value is dropped."""
    values, i = [_arg(pos, 0)], 1
    while i + 1 < len(pos) and pos[i].lower() in _RANGE:
        values += [_RANGE[pos[i].lower()], pos[i + 1]]
        i += 2
    if i >= len(pos):
        return " ".join(values)
    # A range is plural whatever its last value ("1 to 2 metres").
    shown = _unit(pos[i], pos[0] if len(values) == 1 else "2", " ".join(values), named)
    if len(pos) > i + 2 and pos[i + 2] in _MIXED_SECOND:  # {{convert|6|ft|2|in|cm}}
        shown += " " + _unit(pos[i + 2], pos[i + 1], pos[i + 1], named)
    return shown


def _nihongo(pos: list[str], named: dict[str, str]) -> str:
    """``{{nihongo|English|漢字|rōmaji}}`` -> "English (漢字, rōmaji)"."""
    shown = [x for x in pos[:3] if x]
    return f"{shown[0]} ({', '.join(shown[1:])})" if len(shown) > 1 else "".join(shown)


# Labels that {{IPAc-en}} shows as words ("English:", "pronounced", "US:"), not sounds.
_IPAC_LABELS = frozenset("lang pron local also uk us ca au nz ie za".split())


def _ipac(pos: list[str], named: dict[str, str]) -> str:
    """``{{IPAc-en|ˈ|f|iː|b|ə|s}}`` -> "/ˈfiːbəs/"; "_" is a space, a "," starts another one."""
    groups = "".join(p if p not in (",", ";") else "\x00" for p in pos if p.lower() not in _IPAC_LABELS)
    return ", ".join(f"/{g.strip()}/" for g in groups.replace("_", " ").split("\x00") if g.strip())


def _ipa_bracketed(pos: list[str], named: dict[str, str]) -> str:
    """``{{IPA-de|bɛʁˈliːn|lang}}`` -> "[bɛʁˈliːn]" (phonetic brackets, unless given /.../)."""
    sounds = _arg(pos, 0)
    return sounds if not sounds or sounds[0] in "/[" else f"[{sounds}]"


def _val(pos: list[str], named: dict[str, str]) -> str:
    """``{{val|1.5|0.1|e=3|u=m}}`` -> "1.5±0.1×10^3 m"."""
    text = _arg(pos, 0) + (f"±{pos[1]}" if _arg(pos, 1) else "")
    text += f"×10^{named['e']}" if named.get("e") else ""
    return f"{text} {named.get('u') or named.get('ul') or ''}".rstrip()


def _fmt(pattern: str) -> Renderer:
    """A renderer filling ``pattern`` with the positional arguments ("" past the last one)."""
    return lambda pos, named: pattern.format(*pos, "", "", "", "")


_FIRST = _fmt("{0}")
TEMPLATES: dict[str, Renderer] = {
    "convert": _convert, "cvt": _convert, "val": _val, "nihongo": _nihongo,
    # Interlanguage link {{ill|Target|de}}; the old form was {{ill|de|Target|Text}}.
    "ill": lambda pos, named: named.get("lt") or _arg(pos, 0) if not _LANG_PREFIX.fullmatch(
        _arg(pos, 0)) else _arg(pos, 2) or _arg(pos, 1),
    "as of": lambda pos, named: named.get("alt")
    or ("as of " if named.get("lc", "").lower() in _YES else "As of ") + _date(pos, named),
    "formatnum": _formatnum,
    "death date and age": _date_and_age, "dda": _date_and_age,
    "lsj": lambda pos, named: _arg(pos, 1) or _arg(pos, 0),
    "keypress": lambda pos, named: "+".join(pos),
    "marriage": lambda pos, named: f"{_arg(pos, 0)} (m. {'–'.join(x for x in pos[1:3] if x)})",
    "circa": _fmt("c. {0}"), "c.": _fmt("c. {0}"), "fl.": _fmt("fl. {0}"), "bce": _fmt("{0} BCE"),
    "uss": _fmt("USS {0} ({1})"), "hms": _fmt("HMS {0} ({1})"), "sortname": _fmt("{0} {1}"),
    "angbr": _fmt("⟨{0}⟩"), "currency": _fmt("{0} {1}"), "us$": _fmt("US${0}"),
    "usd": _fmt("US${0}"), "gbp": _fmt("£{0}"), "£": _fmt("£{0}"), "€": _fmt("€{0}"),
    "eur": _fmt("€{0}"), "e": _fmt("×10^{0}"), "pi": _fmt("π"), "'": _fmt("'"), "'s": _fmt("'s"),
    "snd": _fmt(" – "), "spaced ndash": _fmt(" – "), "spnd": _fmt(" – "), "ndash": _fmt("–"),
    "en dash": _fmt("–"), "dash": _fmt("–"), "mdash": _fmt("—"), "em dash": _fmt("—"),
    "mdashb": _fmt("—"), "nbsp": _fmt(" "), "thinsp": _fmt(" "), "spaces": _fmt(" "),
    "space": _fmt(" "), "·": _fmt(" · "), "dot": _fmt(" · "), "middot": _fmt(" · "),
    "=": _fmt("="), "!": _fmt("|"), "pipe": _fmt("|"),
    "ipa": _FIRST, "respell": lambda pos, named: "-".join(x for x in pos if x),
}
# Renderers shared by several templates, with the names they serve.
_SHARED: tuple[tuple[Renderer, str], ...] = (
    (lambda pos, named: f"{pos[0]} {pos[1]}/{pos[2]}" if len(pos) > 2  # {{frac|3|1|2}}
     else "/".join((["1"] + pos)[-2:]), "frac, sfrac, fraction"),  # {{frac|2}} is 1/2
    (_date, "birth date, death date, birth date and age, bda, start date, end date, start-date, "
     "end-date, start date and age, dts, birth-date, death-date"),
    (lambda pos, named: _PARA + (named.get("text") or named.get("quote") or _arg(pos, 0)) + _PARA,
     "quote, quotation, blockquote, bquote, cquote"),
    (lambda pos, named: "".join(_ITEM + item for item in pos if item) + _PARA,
     "hlist, flatlist, plainlist, ubl, unbulleted list, ordered list, bulleted list"),
    (lambda pos, named: pos[-1] if pos else "",  # the text, after language or script codes
     "lang, transl, translit, script, rtl-lang, resize, color, colour, font color, sort"),
    (lambda pos, named: "".join(pos), "sic, chem, chem2, ce, linktext"),
    (_FIRST, "nowrap, nobr, small, smaller, big, larger, sc, smallcaps, small caps, nobold, "
     "noitalic, center, em, strong, var, mvar, math, tt, code, mono, sup, sub, vr, vanchor, "
     "visible anchor, not a typo, proper name, abbr, tooltip, nastaliq, flag, flagcountry, flagu"),
)
for _renderer, _names in _SHARED:
    TEMPLATES.update(dict.fromkeys((n.strip() for n in _names.split(",")), _renderer))


# Families of templates named by language: {{lang-de}}, {{IPAc-en}}, {{IPA-fr}}, ...
_BY_PREFIX: tuple[tuple[str, Renderer], ...] = (("lang-", _FIRST), ("ipac-", _ipac), ("ipa-", _ipa_bracketed))


def _lookup(name: str) -> Renderer | None:
    """The renderer for a template name, as written."""
    name = " ".join(name.replace("_", " ").split()).lower().removeprefix("template:")
    name = "formatnum" if name.startswith("formatnum:") else name  # parser-function form
    return TEMPLATES.get(name) or next((r for prefix, r in _BY_PREFIX if name.startswith(prefix)), None)


def _render_template(node: Template, out: list[str]) -> None:
    renderer = _lookup(str(node.name))
    if renderer is None:
        return  # infobox, navbox, citation, maintenance tag, parser function, ...
    if renderer is _formatnum and ":" in str(node.name):  # {{formatnum: 3003}}
        out.append(_formatnum([_render(node.name).partition(":")[2].strip()], {}))
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
    return not labelled and prefix not in _INTERPROJECT and bool(_LANG_PREFIX.fullmatch(prefix))


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
    out.append(_ITEM if tag in _ITEM_TAGS else _PARA if block else " " if tag == "br" else "")
    if node.contents is not None:
        _walk(node.contents.nodes, out)
    if block:
        out.append(_PARA)


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
            out.append(_PARA)
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


def _cell_text(cell: Tag) -> str:
    text = " ".join(str(cell.contents).split()) if cell.contents is not None else ""
    return text.removeprefix("+").strip()  # the parser reads a caption (|+) as a cell holding "+"


def _table_rows(table: str) -> str:
    """A wikitable as wikitext paragraphs: one a row (the caption first), cells joined by " | ".

    The cells keep their markup (links, templates), which is rendered with the rest of the page;
    a table inside a cell is dropped there as any table is.
    """
    nodes = mwparserfromhell.parse(table).nodes
    if not nodes or type(nodes[0]) is not Tag or nodes[0].contents is None:
        return ""
    rows: list[list[str]] = [[]]  # cells before the first |- are a row of their own
    for node in nodes[0].contents.nodes:
        if type(node) is Tag and node.tag == "tr" and node.contents is not None:
            rows.append([_cell_text(c) for c in node.contents.nodes if type(c) is Tag and c.tag in ("td", "th")])
        elif type(node) is Tag and node.tag in ("td", "th"):
            rows[-1].append(_cell_text(node))
    return "".join(_PARA + " | ".join(c for c in row if c) for row in rows if any(row)) + _PARA


def _prestrip(text: str, keep_tables: bool) -> str:
    """Remove comments, refs, code, galleries, tables (or all but their cells) and unrenderable
    templates; mark math."""
    text = _STRIP.sub(lambda m: _MATH if m.group(3) else "", text)
    text = _replace_balanced(
        text, _TABLE_EDGE, "{|", lambda start, end: _table_rows(text[start:end]) if keep_tables else ""
    )

    def unrenderable(start: int, end: int) -> bool:
        return _lookup(text[start + 2 : _NAME_END.search(text, start + 2, end).start()]) is None

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
        kept.append(_PARA)
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
    text = _TERM.sub(r"\1" + _ITEM, text)
    text = _LIST_MARKS.sub(_ITEM, text)
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
