"""What inline wiki templates show: a renderer per template name, the rest show nothing.

Other extractors drop every template and with it the numbers, dates and names a reader sees
("a {{convert|5|km|mi}} walk", "born {{birth date|1809|2|12}}", "Alabama ({{IPAc-en|ˌ|æ|l|ə|ˈ|b|æ|m|ə}})").
:data:`TEMPLATES` maps a normalised name to a small function; :func:`lookup` finds it for a
name as written. Infoboxes, navboxes, citations and maintenance tags have none: they are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["ITEM", "PARA", "LANG_PREFIX", "Renderer", "TEMPLATES", "formatnum", "lookup"]

# Markers in the rendered text that wikitext_to_text resolves: "\x02" starts a list item (XML 1.0
# cannot carry it, so no page text contains it) and a blank line ends a paragraph.
ITEM = "\n\x02"
PARA = "\n\n"
# A language code, as interlanguage links and {{ill}} use them.
LANG_PREFIX = re.compile(r"[a-z]{2,3}(?:-[a-z]{2,8})*")

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


def formatnum(pos: list[str], named: dict[str, str]) -> str:
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


def _ipa(pos: list[str], named: dict[str, str]) -> str:
    """``{{IPA|/ˈæ/}}`` as given; ``{{IPA|de|bɛʁˈliːn}}`` (a language first) as ``{{IPA-de}}``."""
    if len(pos) > 1 and LANG_PREFIX.fullmatch(pos[0]):
        return _ipa_bracketed(pos[1:], named)
    return _arg(pos, 0)


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
    "ill": lambda pos, named: named.get("lt") or _arg(pos, 0) if not LANG_PREFIX.fullmatch(
        _arg(pos, 0)) else _arg(pos, 2) or _arg(pos, 1),
    "as of": lambda pos, named: named.get("alt")
    or ("as of " if named.get("lc", "").lower() in _YES else "As of ") + _date(pos, named),
    "formatnum": formatnum,
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
    "ipa": _ipa, "respell": lambda pos, named: "-".join(x for x in pos if x),
}
# Renderers shared by several templates, with the names they serve.
_SHARED: tuple[tuple[Renderer, str], ...] = (
    (lambda pos, named: f"{pos[0]} {pos[1]}/{pos[2]}" if len(pos) > 2  # {{frac|3|1|2}}
     else "/".join((["1"] + pos)[-2:]), "frac, sfrac, fraction"),  # {{frac|2}} is 1/2
    (_date, "birth date, death date, birth date and age, bda, start date, end date, start-date, "
     "end-date, start date and age, dts, birth-date, death-date"),
    (lambda pos, named: PARA + (named.get("text") or named.get("quote") or _arg(pos, 0)) + PARA,
     "quote, quotation, blockquote, bquote, cquote"),
    (lambda pos, named: "".join(ITEM + item for item in pos if item) + PARA,
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


def lookup(name: str) -> Renderer | None:
    """The renderer for a template name, as written."""
    name = " ".join(name.replace("_", " ").split()).lower().removeprefix("template:")
    name = "formatnum" if name.startswith("formatnum:") else name  # parser-function form
    return TEMPLATES.get(name) or next((r for prefix, r in _BY_PREFIX if name.startswith(prefix)), None)
