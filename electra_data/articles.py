"""Which pages of a MediaWiki dump are articles worth pre-training on: not redirects, other
namespaces, disambiguation or set-index pages."""

from __future__ import annotations

import re

from electra_data.wiki import Page

__all__ = ["DISAMBIGUATION_TEMPLATES", "page_drop_reason"]

# Lower-cased, space-normalised names of the templates that mark a page as a disambiguation or
# set-index page on English Wikipedia (including the redirects editors actually use). Set-index
# and name pages are lists of links with one-line glosses, as poor for pre-training as dab pages.
DISAMBIGUATION_TEMPLATES = frozenset(
    (
        "disambiguation", "disambig", "disamb", "dab", "dis", "disambiguation page", "hndis",
        "geodis", "schooldis", "numberdis", "roaddis", "hospitaldis", "mathdab", "mil-unit-dis",
        "letter-numbercombdisambig", "human name disambiguation", "place name disambiguation",
        "species latin name disambiguation", "airport disambiguation", "call sign disambiguation",
        "set index", "set index article", "sia", "surname", "given name", "ship index",
        "shipindex", "mountain index", "lake index", "road index", "sport index",
        "molecular formula index", "chemistry index", "plant common name",
    )
)

# A template's name: what follows "{{" up to the first "|" or "}}".
_TEMPLATE_NAME = re.compile(r"\{\{\s*([^{}|<>\[\]\n]+?)\s*(?:\||\}\})")
_REDIRECT = re.compile(r"\s*#redirect\b", re.IGNORECASE)


def _is_disambiguation(text: str) -> bool:
    for match in _TEMPLATE_NAME.finditer(text):
        name = " ".join(match.group(1).replace("_", " ").split()).lower()
        name = name.removeprefix("template:").strip()
        # "... disambiguation" names the page type; {{disambiguation needed}} tags an article.
        if name in DISAMBIGUATION_TEMPLATES or name.endswith(" disambiguation"):
            return True
    return False


def page_drop_reason(page: Page, keep_disambiguation: bool = False) -> str | None:
    """Say why a page is not an article worth keeping, or return None to keep it.

    Args:
        page: The page to judge.
        keep_disambiguation: Keep disambiguation and set-index pages (default False).

    Returns:
        ``"not_main_namespace"``, ``"redirect"`` (the ``<redirect>`` flag, or text that starts
        with ``#REDIRECT`` in any case, which older dumps carry without the flag),
        ``"disambiguation"`` (a template from :data:`DISAMBIGUATION_TEMPLATES`, or any template
        whose name ends in " disambiguation"), or None.
    """
    if page.ns != 0:
        return "not_main_namespace"
    if page.redirect or _REDIRECT.match(page.text):
        return "redirect"
    if not keep_disambiguation and _is_disambiguation(page.text):
        return "disambiguation"
    return None
