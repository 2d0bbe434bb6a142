"""The command line of ``build`` and ``vocab``: every word is read or refused, never dropped.

Pure functions over the words (``sys.argv`` after the command) and the click parameters, used by
``electra_data.cli``: the files an unquoted glob expands to after ``--input`` are all inputs
(``spread_inputs``); a word no option takes is an error naming the closest known option
(``unknown_args_message``); an option given twice with different values (``repeated_option``),
or one that the others make moot (``moot_options``), is refused by name. ``OneValueCommand``
brings the rule on repeated options to every command (``electra-train`` and ``electra-eval`` too).
"""

from __future__ import annotations

import difflib

from typer.core import TyperCommand

from electra_data.console import fail
from electra_data.inputs import NAMED_CORPORA

__all__ = ["OneValueCommand", "moot_options", "repeated_option", "spread_inputs", "unknown_args_message"]


def _opens(arg: str) -> tuple[str | None, bool]:
    """For a word of the command line: (the option whose value is the next word, or None; whether
    bare words after it are inputs)."""
    name, eq, value = arg.partition("=")
    if name in ("--input", "-i", "--corpus") and not eq:
        return name, False
    if name == "--corpus":
        return None, value not in NAMED_CORPORA
    return None, name == "--input" or (arg.startswith("-i") and not arg.startswith("--"))  # --input=F, -iF


def spread_inputs(args: list[str]) -> list[str]:
    """The command line with each bare word after ``--input VALUE`` made an ``--input`` of its own.

    That is what an unquoted glob becomes: the shell expands ``--input books/*.txt`` into
    ``--input books/a.txt books/b.txt``, and the user means every file. The same after
    ``--corpus`` of a domain corpus (``--corpus docs/*.md``): the other files join it as inputs.
    The words run up to the next one that starts with ``-``.
    """
    spread: list[str] = []
    value_of, gathering = None, False
    for arg in args:
        if value_of is not None:
            spread.append(arg)
            gathering = value_of != "--corpus" or arg not in NAMED_CORPORA
            value_of = None
        elif gathering and not arg.startswith("-"):
            spread += ["--input", arg]
        else:
            spread.append(arg)
            value_of, gathering = _opens(arg)
    return spread


def unknown_args_message(unknown: list[str], known: list[str], command: str) -> str:
    """The error for words no option takes: the flags, each with the closest known one, or else the first word."""
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if flags:
        named = []
        for flag in flags:
            close = difflib.get_close_matches(flag, known, n=1)
            named.append(f"{flag} (did you mean {close[0]}?)" if close else flag)
        return (
            f"no such option: {'; '.join(named)}. `{command} --help` lists the options; "
            "other flags must be Beam pipeline options"
        )
    return (
        f"unexpected argument {unknown[0]!r}: no option takes it. Files to read go after --input "
        "(several: repeat --input, or give a glob)"
    )


def repeated_option(args: list[str], params) -> str | None:
    """The error for an option of ``params`` that takes one value and is given several different
    ones (``--out a ... --out b``), of which only the last would be used; None if there is none."""
    kinds: dict[str, tuple[str, object]] = {}  # flag -> (parameter, its value as a flag, or "value"/"values")
    for param in params:
        if param.param_type_name != "option":
            continue
        kind = "values" if param.multiple else None if param.is_flag else "value"
        kinds.update({opt: (param.name, True if kind is None else kind) for opt in param.opts})
        kinds.update({opt: (param.name, False) for opt in param.secondary_opts})
    given: dict[str, list[tuple[str, str]]] = {}
    words = iter(args)
    for word in words:
        if word == "--":
            break
        flag, eq, value = word.partition("=")
        if flag not in kinds:
            continue
        name, kind = kinds[flag]
        if kind in ("value", "values") and not eq:
            value = next(words, "")
        if kind != "values":
            given.setdefault(name, []).append((flag, value if isinstance(kind, str) else str(kind)))
    for uses in given.values():
        (first, value), others = uses[0], [(flag, v) for flag, v in uses[1:] if v != uses[0][1]]
        if not others:
            continue  # the same value again: nothing is lost
        flag, other = others[0]
        if flag != first:  # --cased ... --no-cased
            return f"{first} and {flag} are both given, and only the last would be used: give one of them"
        return f"{first} is given twice ({value}, then {other}), and only the last would be used: give it once"
    return None



class OneValueCommand(TyperCommand):
    """A command whose options that take one value may be given once (or again with the same
    value): click would silently keep the last (``--max-steps 2 ... --max-steps 5``)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing and (twice := repeated_option(args, self.get_params(ctx))):
            fail(twice)
        return super().parse_args(ctx, args)

# Options that others make moot, by parameter name: given with them, they would be silently ignored.
_VOCAB_TRAINING = ("vocab_size", "cased", "vocab_sample_docs", "vocab_sample_mb")
_NEAR_DEDUP = ("dedup_threshold", "dedup_verify", "dedup_rounds", "minhash_perms", "shingle_size")
_DOMAIN_ONLY = ("format", "text_field", "doc_separator", "keep_code")
_WIKI_ONLY = ("keep_disambiguation", "keep_tables")


def moot_options(cfg, given: set[str], remote: bool) -> tuple[list[str], str] | None:
    """The options given that would have no effect with the others, and the reason; else None."""
    dedup = "--no-dedup" if "no_dedup" in given else f"--dedup {cfg.dedup}"
    sources = set(cfg.sources)
    rules = (
        (_VOCAB_TRAINING, cfg.vocab is not None, "--vocab (a given vocab is reused, not trained)"),
        (_NEAR_DEDUP, not cfg.near_dedup, f"{dedup} (no near-duplicate detection runs)"),
        (("shard_size_mb",), cfg.num_shards is not None, "--num-shards (it sets the number of train shards)"),
        (_DOMAIN_ONLY, "domain" not in sources, f"--corpus {cfg.corpus} (they are options of a domain corpus)"),
        (_WIKI_ONLY, not sources & {"wiki", "wiki+books"}, f"--corpus {cfg.corpus} (it reads no MediaWiki dump)"),
        (("workers",), remote, "--runner (the remote runner has workers of its own)"),
    )
    for names, moot, reason in rules:
        if moot and (named := [name for name in names if name in given]):
            return named, reason
    return None
