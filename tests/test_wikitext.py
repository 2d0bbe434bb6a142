"""Tests for electra_data.wikitext on wikitext taken from a real English Wikipedia export.

Snippets are copied from the sample dump (enwiki 2016, gensim test data, CC BY-SA 3.0); the page
each comes from is named beside it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from electra_data.articles import page_drop_reason

from electra_data.wiki import iter_pages
from electra_data.wiki_templates import TEMPLATES
from electra_data.wikitext import MATH_PLACEHOLDER, wikitext_to_text

_NAME = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_DIRS = (
    Path(__file__).parents[1] / "sample_data" / "wikipedia",
    Path("/work/shared/data/wikipedia"),
)
DUMP = next((d / _NAME for d in _DIRS if (d / _NAME).exists()), None)

# Allan Dwan: the infobox (with date templates inside it) goes, the lead stays.
ALLAN_DWAN = """{{Use dmy dates|date=October 2013}}
{{Infobox person
| name = Allan Dwan
| image = Allan Dwan 1920.jpg
| caption = Dwan in 1920
|birth_name=Joseph Aloysius Dwan
| birth_date = {{Birth date|df=yes|1885|4|3}}
| birth_place = [[Toronto]], Canada
| death_date = {{Death date and age|df=yes|1981|12|28|1885|4|3}}
| death_place = Los Angeles, United States
| spouse = [[Pauline Bush (actress)|Pauline Bush]] (1915–1919)<br/> Marie Shelton (1927–1949)
| occupation = Film director<br>Film producer<br>Screenwriter
| years_active = 1911–1961
}}

'''Allan Dwan''' (3 April 1885 – 28 December 1981) was a pioneering Canadian-born American motion \
picture director, producer and screenwriter."""

# Algeria: numbers inside {{convert}}, a range among them, which other extractors lose.
ALGERIA = """Rainfall is fairly plentiful along the coastal part of the Tell Atlas, ranging from \
{{convert|400|to|670|mm|1|abbr=on}} annually, the amount of precipitation increasing from west to \
east. [[Precipitation (meteorology)|Precipitation]] is heaviest in the northern part of eastern \
Algeria, where it reaches as much as {{convert|1000|mm|1|abbr=on}} in some years."""

# Aikido: {{Nihongo}}, a pronunciation template and a reference full of a citation template.
AIKIDO = """{{Nihongo|'''Aikido'''|合気道|Aikidō|lead=yes}} {{IPA-ja|a.i.ki.doː|}} is a \
[[gendai budō|modern]] [[Japanese martial art]] developed by [[Morihei Ueshiba]] as a synthesis \
of his martial studies, philosophy, and religious beliefs. Aikido is often translated as "the \
way of unifying (with) [[Qi|life energy]]"<ref>{{cite book |title=Aikido |publisher=Kodansha |year=1985}}</ref> or as \
"the way of harmonious spirit"."""

# Apollo: IPAc-en and respell pieces, {{lang}}, a <ref> with a link inside.
APOLLO = """However, while Apollo has a great number of appellations in Greek myth, only a few \
occur in [[Latin literature]], chief among them '''Phoebus''' ({{IPAc-en|ˈ|f|iː|b|ə|s}} \
{{respell|FEE|bəs}}; {{lang|grc|Φοῖβος}}, ''Phoibos'', literally "bright"),<ref>[[Robert S. P. \
Beekes|R. S. P. Beekes]], ''Etymological Dictionary of Greek'', Brill, 2009, p. 1582.</ref> which \
was very commonly used by both the Greeks and Romans in Apollo's role as the god of light."""

# Anarchism: named and self-closing refs, a ref whose unbalanced '' used to derail the parser,
# an HTML entity, a section with a list and the end matter.
ANARCHISM = """Anarchists became known for their involvement in protests against the meetings of \
the [[World Trade Organization]] (WTO), [[G8|Group of Eight]], and the [[World Economic Forum]].\
<ref name=rupert/> According to anarchist scholar [[Simon Critchley]], "contemporary anarchism can \
be seen as a powerful critique of the pseudo-libertarianism of contemporary \
[[neo-liberalism]]&nbsp;..."<ref>[[Simon Critchley#Infinitely Demanding|Infinitely Demanding]]'' \
by [[Simon Critchley]]. [[Verso Books|Verso]]. 2007. p. 125</ref> __NOTOC__

==Further reading==
* [[Barrett, Terry]] (2003). ''Interpreting Art''.

== Schools ==
{{Main|Anarchist schools of thought}}
Anarchist schools of thought had been generally grouped in two main historical traditions,
[[individualist anarchism]] and [[social anarchism]].
* '''Mutualism''' began in 18th-century English and French labour movements.
* '''Collectivist anarchism''' is a revolutionary doctrine.

==References==
{{Reflist|30em}}

==External links==
* [http://dmoz.org/Society/Politics/Anarchism/ Anarchism] at [[DMOZ]]

[[Category:Anarchism| ]]
[[Category:Political culture]]
[[bg:Анархизъм]]"""

# Ambiguity: an image whose caption has unbalanced bold markup.
AMBIGUITY = """[[File:Structural analysis of an ambiguous spanish sentence.svg|thumb|Structural \
analysis of an ambiguous Spanish sentence:<br /> '''Pepe vio a Pablo enfurecido''<br />\
Interpretation 1: When Pepe was angry, then he saw Pablo<br />Interpretation 2: Pepe saw that \
Pablo was angry.]]

The [[Polysemy|lexical ambiguity]] of a word or phrase pertains to its having more than one \
meaning in the language to which the word belongs."""

# Constructive vote of no confidence (enwiki-table-markup sample): a table between paragraphs.
TABLE = """Since 1949, only two constructive votes of no confidence have been attempted, and only \
one has been successful.

{||border=0 cellpadding="1" cellspacing="1"
|-
! width="120" style="background:#FFDEAD" | '''Date'''
! width="150" style="background:#FFDEAD" | '''Opposition candidate (party)'''
|-
|style="background:#FFF8DC;" |27 April 1972
|style="background:#FFF8DC;" |[[Rainer Barzel]] ([[Christian Democratic Union (Germany)|CDU]])
|}

In 1972, the [[CDU/CSU]] opposition tried to replace Brandt."""

# Albedo: <math> and an HTML comment.
ALBEDO = """the directional-hemispherical reflectance at that solar zenith angle, \
<math>{\\bar \\alpha(\\theta_i)}</math>, and the bi-hemispherical \
reflectance<!--Added by DASHBot-->."""

# John Cage (Anarchism): a labelled external link keeps its label; a bare numbered one vanishes.
EXTERNAL = """[http://www.ubu.com/papers/cage_montague_interview.html John Cage at Seventy: An \
Interview] by Stephen Montague.[http://www.ubu.com/papers/]"""


# Design of experiments: a definition list; the colon inside a link or a URL is not the separator.
GLOSSARY = """; Balanced design: An experimental design where all cells (i.e. treatment \
combinations) have the same number of observations.
; [[Blocking (statistics)|Blocking]]: A schedule for conducting treatment combinations.
; [[wikt:design|Design]]: A set of experimental runs.
; [http://www.itl.nist.gov/div898/handbook/ NIST handbook]: Section 5.7."""

# Albert Einstein: a list template whose items are list markup, one a link with markup inside.
PLAINLIST = """Known for: {{Plainlist|
* [[General relativity]] and [[special relativity]]
* [[Photoelectric effect]]
* ''[[Mass–energy equivalence|E=mc<sup>2</sup>]]''
* Theory of [[Brownian motion]]
}}"""

# Apollo 11: a file whose caption holds a renderable template, then prose with {{convert}}.
SPLASHDOWN = """===Splashdown and quarantine===
[[File:Splashdown 3.jpg|thumb|221px|''Columbia'' floats on the ocean as Navy divers assist]]
[[File:Apollo-11-quarantine-7.jpg|right|thumb|The astronauts in their Biological Isolation \
Garments aboard the {{USS|Hornet|CV-12|6}}]]

On July 24, the astronauts returned home aboard the Command Module ''Columbia'', \
{{convert|380|km|nmi|abbr=on}} south of [[Johnston Atoll]]."""

# Apollo: end matter with a subsection (===Primary sources=== under ==References==).
APOLLO_END = """The [[Apollo Belvedere]] is a marble sculpture.

==See also==
{{Portal|Greek mythology|Hellenismos}}

*[[Dryad]]
*[[Temple of Apollo (disambiguation)]]

==Notes==
{{Reflist|20em}}

==References==
* {{EB1911 |last=Freese |first=John Henry |wstitle=Apollo }}

===Primary sources===
[[File:Belvedere Apollo Pio-Clementino Inv1015 n3.jpg|thumb|Head of the ''[[Apollo Belvedere]]'']]
* [[Hesiod]], ''[[Theogony]]'', in ''The Homeric Hymns and Homerica''."""

def test_infobox_goes_and_lead_stays() -> None:
    assert wikitext_to_text(ALLAN_DWAN) == (
        "Allan Dwan (3 April 1885 – 28 December 1981) was a pioneering Canadian-born American "
        "motion picture director, producer and screenwriter."
    )


def test_convert_keeps_numbers_and_units() -> None:
    text = wikitext_to_text(ALGERIA)
    assert "ranging from 400 to 670 mm annually" in text
    assert "reaches as much as 1000 mm in some years." in text
    assert "Precipitation is heaviest" in text


def test_nihongo_and_pronunciation_kept_reference_dropped() -> None:
    assert wikitext_to_text(AIKIDO) == (
        "Aikido (合気道, Aikidō) [a.i.ki.doː] is a modern Japanese martial art developed by Morihei "
        "Ueshiba as a synthesis of his martial studies, philosophy, and religious beliefs. Aikido is "
        'often translated as "the way of unifying (with) life energy" or as "the way of harmonious '
        'spirit".'
    )


def test_ipa_respelling_and_lang_text_kept_as_shown() -> None:
    text = wikitext_to_text(APOLLO)
    assert 'chief among them Phoebus (/ˈfiːbəs/ FEE-bəs; Φοῖβος, Phoibos, literally "bright"), which was' in text
    assert "Beekes" not in text


def test_refs_sections_lists_categories_and_end_matter() -> None:
    paragraphs = wikitext_to_text(ANARCHISM).split("\n\n")
    assert paragraphs == [
        "Anarchists became known for their involvement in protests against the meetings of the "
        "World Trade Organization (WTO), Group of Eight, and the World Economic Forum. According "
        "to anarchist scholar Simon Critchley, \"contemporary anarchism can be seen as a powerful "
        "critique of the pseudo-libertarianism of contemporary neo-liberalism ...\"",
        "Anarchist schools of thought had been generally grouped in two main historical "
        "traditions, individualist anarchism and social anarchism.",
        "Mutualism began in 18th-century English and French labour movements.",
        "Collectivist anarchism is a revolutionary doctrine.",
    ]


def test_image_with_unbalanced_caption_is_dropped() -> None:
    assert wikitext_to_text(AMBIGUITY) == (
        "The lexical ambiguity of a word or phrase pertains to its having more than one meaning in "
        "the language to which the word belongs."
    )


def test_table_is_dropped_and_paragraphs_around_it_kept() -> None:
    assert wikitext_to_text(TABLE).split("\n\n") == [
        "Since 1949, only two constructive votes of no confidence have been attempted, and only "
        "one has been successful.",
        "In 1972, the CDU/CSU opposition tried to replace Brandt.",
    ]


def test_table_cells_are_kept_as_rows_when_asked() -> None:
    assert wikitext_to_text(TABLE, keep_tables=True).split("\n\n") == [
        "Since 1949, only two constructive votes of no confidence have been attempted, and only "
        "one has been successful.",
        "Date | Opposition candidate (party)",
        "27 April 1972 | Rainer Barzel (CDU)",
        "In 1972, the CDU/CSU opposition tried to replace Brandt.",
    ]


def test_kept_table_cells_read_as_written() -> None:
    # an indented table: a caption, a sign that must stay, a list in a cell, a nested table
    table = (
        ':{| class="wikitable"\n|+ Record temperatures\n! Month !! Change\n|-\n| January || +5 °C\n'
        "|-\n| February ||\n* [[Fog]]\n* [[Drizzle|drizzle]]\n|-\n| March\n{|\n| nested\n|}\n| −2 °C\n|}"
    )
    assert wikitext_to_text(table, keep_tables=True).split("\n\n") == [
        "Record temperatures", "Month | Change", "January | +5 °C", "February | Fog, drizzle", "March | −2 °C",
    ]
    assert wikitext_to_text(table) == ""


@pytest.mark.skipif(DUMP is None, reason=f"sample dump {_NAME} not found")
def test_a_list_article_is_mostly_table() -> None:
    # Academy Award for Best Production Design: 88 KB of wikitext, nearly all of it tables
    (page,) = [p for p in iter_pages(DUMP) if p.id == 316]
    dropped, kept = wikitext_to_text(page.text), wikitext_to_text(page.text, keep_tables=True)
    assert "Menzies" not in dropped and len(dropped) < 1000
    assert "Most Awards | Cedric Gibbons | 11 awards | Awards resulted from 39 nominations." in kept.split("\n\n")
    assert "William Cameron Menzies | The Dove" in kept.split("\n\n") and len(kept) > 30 * len(dropped)
    assert "{{" not in kept and "style=" not in kept


def test_math_becomes_placeholder_and_comment_vanishes() -> None:
    assert MATH_PLACEHOLDER == "[math]"
    assert wikitext_to_text(ALBEDO) == (
        "the directional-hemispherical reflectance at that solar zenith angle, [math], and the "
        "bi-hemispherical reflectance."
    )


def test_external_links() -> None:
    assert wikitext_to_text(EXTERNAL) == "John Cage at Seventy: An Interview by Stephen Montague."


def test_definition_list_terms_and_definitions_are_paragraphs() -> None:
    assert wikitext_to_text(GLOSSARY).split("\n\n") == [
        "Balanced design",
        "An experimental design where all cells (i.e. treatment combinations) have the same "
        "number of observations.",
        "Blocking",
        "A schedule for conducting treatment combinations.",
        "Design",
        "A set of experimental runs.",
        "NIST handbook",
        "Section 5.7.",
    ]


def test_list_template_with_list_markup_items() -> None:
    assert wikitext_to_text(PLAINLIST).split("\n\n") == [
        "Known for:",
        "General relativity and special relativity",
        "Photoelectric effect",
        "E=mc2",
        "Theory of Brownian motion",
    ]


def test_file_with_template_in_caption_is_dropped() -> None:
    assert wikitext_to_text(SPLASHDOWN) == (
        "On July 24, the astronauts returned home aboard the Command Module Columbia, 380 km south "
        "of Johnston Atoll."
    )


def test_end_matter_subsections_are_dropped() -> None:
    assert wikitext_to_text(APOLLO_END) == "The Apollo Belvedere is a marble sculpture."


def test_links_with_markup_or_entities_in_them() -> None:
    # Agriculture, English alphabet, ASCII, Analysis of variance.
    text = "rainfall, [[carbon dioxide|CO<sub>2</sub>]], [[solar radiation]]"
    assert wikitext_to_text(text) == "rainfall, CO2, solar radiation"
    text = "occurs [[English-language vowel changes before historic /r/|before {{vr|r}}]], as in"
    assert wikitext_to_text(text) == "occurs before r, as in"
    assert wikitext_to_text("the Unix-based [[OS&nbsp;X]] operating system") == (
        "the Unix-based OS X operating system"
    )
    assert wikitext_to_text("[[Kruskal&ndash;Wallis test]]") == "Kruskal–Wallis test"


def test_headings_of_any_level_split_paragraphs() -> None:
    text = "Crops grow.\n=== Climate change ===  \nClimate change has the potential.\n=Top=\nEnd."
    assert wikitext_to_text(text).split("\n\n") == [
        "Crops grow.", "Climate change has the potential.", "End."
    ]


@pytest.mark.parametrize(
    ("wikitext", "expected"),
    [
        ("{{convert|160|acre|ha}}", "160 acres"),  # Abraham Lincoln
        ("{{convert|-19|to|22|C|F|sigfig=2}}", "-19 to 22 °C"),  # Afghanistan
        ("{{convert|5|mi|km|0|adj=on}}", "5-mile"),
        ("{{convert|12|km|abbr=off}}", "12 kilometres"),
        ("{{convert|1|mi|km}}", "1 mile"),
        ("{{convert|663,268|sqmi|km2|0}}", "663,268 square miles"),  # Alaska
        ("{{convert|150|°C|°F|abbr=on}}", "150 °C"),
        ("{{convert|6|ft|2|in|cm}}", "6 feet 2 inches"),
        ("{{convert|5|-|10|km|mi}}", "5 – 10 kilometres"),
        ("{{cvt|30|m}}", "30 metres"),
        ("{{Birth date|df=yes|1885|4|3}}", "3 April 1885"),  # Allan Dwan
        ("{{birth date|mf=yes|1905|02|02}}", "February 2, 1905"),  # Ayn Rand
        ("{{birth date|1809|2|12}}", "February 12, 1809"),  # Abraham Lincoln
        ("{{death date and age|1865|4|15|1809|2|12}}", "April 15, 1865 (aged 56)"),
        ("{{Death date and age|df=yes|1981|12|28|1885|4|3}}", "28 December 1981 (aged 96)"),
        ("{{Start date and age|1929|5|16}}", "May 16, 1929"),  # Academy Awards
        ("{{start-date|July 16, 1969, 13:32:00|timezone=yes}}", "July 16, 1969, 13:32:00"),
        ("{{dts|1778|02|05}}", "February 5, 1778"),  # American Revolutionary War
        ("{{as of|2014|lc=y}}", "as of 2014"),
        ("{{As of|2011}}", "As of 2011"),
        ("{{circa|3000}} BC", "c. 3000 BC"),
        ("{{lang|grc|ἰατρός}}", "ἰατρός"),  # Apollo
        ("{{lang-sq|Shqipëria}}", "Shqipëria"),
        ("{{transl|ar|ALA|Allāh}}", "Allāh"),  # Allah
        ("{{nowrap|29° N}}", "29° N"),
        ("{{small|[[45th Academy Awards|(45th)]]}}", "(45th)"),
        ("{{nowrap|[[Mass–energy equivalence|E=mc2]]}}", "E=mc2"),  # "=" in a template argument
        ("{{abbr|UK|United Kingdom}}", "UK"),
        ("{{frac|2}}", "1/2"),
        ("{{frac|3|2}}", "3/2"),  # Alkane
        ("{{frac|3|1|2}}", "3 1/2"),
        ("{{chem|CH|3|COOH}}", "CH3COOH"),  # Acid
        ("{{marriage|Maria Nys|()=smaller|1919|1955}}", "Maria Nys (m. 1919–1955)"),  # Huxley
        ("{{USS|Yorktown|CV-10|6}}", "USS Yorktown (CV-10)"),
        ("{{HMS|Victory}} sailed.", "HMS Victory sailed."),
        ("{{val|0.001118000|u=grams}}", "0.001118000 grams"),  # Avogadro constant
        ("{{formatnum: 3003}} m", "3,003 m"),  # Algeria
        ("{{angbr|υ}}", "⟨υ⟩"),  # Alphabet
        ("{{keypress|Ctrl}}", "Ctrl"),  # ASCII
        (
            "{{ill|de|Gymnasium Ernestinum Gotha|Gymnasium Ernestinum Gotha|Gymnasium illustre}}",
            "Gymnasium Ernestinum Gotha",
        ),
        ("{{Nihongo|'''Hip throw'''|腰投げ|koshinage}}", "Hip throw (腰投げ, koshinage)"),  # Aikido
        ("1990{{snd}}2000", "1990 – 2000"),
        ("a{{nbsp}}b{{mdash}}c{{ndash}}d", "a b—c–d"),
        ("{{US$|5}} million", "US$5 million"),
        ("{{sic|hide=y|Mediterranian}}", "Mediterranian"),
        ("''Iliad''{{'}}s description", "Iliad's description"),
        ("{{quote|Anarchism is stateless.|Someone}} It was.", "Anarchism is stateless.\n\nIt was."),
        ("{{IPAc-en|ˈ|æ|n|ər|k|ɪ|z|əm}}", "/ˈænərkɪzəm/"),  # Anarchism
        ("{{IPAc-en|lang|ˌ|æ|l|ə|ˈ|b|æ|m|ə}}", "/ˌæləˈbæmə/"),  # Alabama, its "English:" label dropped
        ("{{IPAc-en|ˈ|k|æ|t|,|US|ˈ|k|ɑː|t}}", "/ˈkæt/, /ˈkɑːt/"),  # two pronunciations
        ("{{IPA-de|ˈalbɐt ˈʔaɪnʃtaɪn|lang|Albert Einstein german.ogg}}", "[ˈalbɐt ˈʔaɪnʃtaɪn]"),  # Einstein
        ("{{IPAc-en|ˈ|aɪ|n|_|ˈ|r|æ|n|d}}", "/ˈaɪn ˈrænd/"),  # Ayn Rand
        ("{{IPA|/ˈæ/}}", "/ˈæ/"),
        ("{{IPA|de|bɛʁˈliːn|lang}}", "[bɛʁˈliːn]"),  # the merged form of {{IPA-de}}
        ("{{respell|AL|ə|BAM|ə}}", "AL-ə-BAM-ə"),
    ],
)
def test_inline_templates_keep_their_text(wikitext: str, expected: str) -> None:
    assert wikitext_to_text(wikitext) == expected


@pytest.mark.parametrize(
    "wikitext",
    [
        "{{Infobox country|name=Albania|capital=[[Tirana]]}}",
        "{{cite web|url=http://x.org|title=Title}}",
        "{{Citation needed|date=May 2010}}",
        "{{Authority control}}",
        "{{#if:{{{1|}}}|yes|no}}",
        "[[Category:Political culture]]",
        "[[Image:Alabama.jpg|thumb|A [[river]] view]]",
        "[[de:Anarchismus]]",
        "<!-- hidden -->",
        "<gallery>\nFile:A.jpg|Caption\n</gallery>",
        "__NOTOC__",
        "<ref name=x/>",
        "[http://www.ubu.com/papers/]",
    ],
)
def test_dropped_markup_leaves_nothing(wikitext: str) -> None:
    assert wikitext_to_text(wikitext) == ""


def test_visible_links() -> None:
    assert wikitext_to_text("[[Anarchism]]s and [[:Category:Anarchism|the category]].") == (
        "Anarchisms and the category."
    )
    text = "[[Paris (band)|]] played [[wikt:anarchy|anarchy]]."
    assert wikitext_to_text(text) == "Paris played anarchy."


def test_bold_italic_and_possessive_quotes() -> None:
    # A Modest Proposal: the closing italics are glued to a possessive apostrophe.
    line = (
        "[[Hunter S. Thompson]]'s ''[[Fear and Loathing in America|Fear and Loathing in America: "
        "The Brutal Odyssey of an Outlaw Journalist]]'', which contains hundreds of private "
        "letters written by Thompson over the years, contains a letter in which he uses ''A Modest "
        "Proposal'''s satire technique against the [[Vietnam War]]."
    )
    assert wikitext_to_text(line) == (
        "Hunter S. Thompson's Fear and Loathing in America: The Brutal Odyssey of an Outlaw "
        "Journalist, which contains hundreds of private letters written by Thompson over the "
        "years, contains a letter in which he uses A Modest Proposal's satire technique against "
        "the Vietnam War."
    )
    assert wikitext_to_text("'''Phoebus''' (''Phoibos'') and '''''both'''''") == (
        "Phoebus (Phoibos) and both"
    )


def test_single_newline_joins_and_blank_line_splits() -> None:
    assert wikitext_to_text("one\ntwo\n\n\n\nthree  four\n") == "one two\n\nthree four"


def test_template_table_keys_are_normalised() -> None:
    assert all(name == name.lower().strip() and "_" not in name for name in TEMPLATES)


@pytest.mark.skipif(DUMP is None, reason=f"sample dump {_NAME} not found")
def test_whole_dump_converts_without_markup_left() -> None:
    pages = iter_pages(DUMP)
    articles = [p for p in pages if page_drop_reason(p, keep_disambiguation=True) is None]
    assert len(articles) == 106
    start = time.perf_counter()
    texts = {p.title: wikitext_to_text(p.text) for p in articles}
    elapsed = time.perf_counter() - start
    for title, text in texts.items():
        for markup in ("{{", "}}", "[[", "]]", "<ref", "|}", "{|", "\n\n\n", "''", "\x01", "\x02"):
            assert markup not in text, f"{title}: {markup!r} left in the text"
        for paragraph in text.split("\n\n"):
            assert paragraph and "\n" not in paragraph and paragraph == paragraph.strip(), title
    assert len(texts["Anarchism"].split()) > 5000
    assert "[math]" in texts["Algorithm"] or "[math]" in texts["Albedo"]
    # ~5.7 MB of wikitext; a generous bound that still catches a quadratic slowdown.
    assert elapsed < 30
