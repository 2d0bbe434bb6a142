"""Tests for electra_data.markup on the Linux kernel documentation (sample_data/domain/linux-doc).

The reStructuredText snippets below are copied verbatim from the files named above each one.
"""

from __future__ import annotations

import re

import pytest
from corpus_text import SAMPLE_DATA

from electra_data.markup import markdown_title, markdown_to_text, rst_title, rst_to_text

LINUX_DOC = SAMPLE_DATA / "domain" / "linux-doc"

# mm/index.rst.txt, lines 1-30: overlined title, roles, a toctree.
MM_INDEX = """\
=====================================
Linux Memory Management Documentation
=====================================

Memory Management Guide
=======================

This is a guide to understanding the memory management subsystem
of Linux.  If you are looking for advice on simply allocating memory,
see the :ref:`memory_allocation`.  For controlling and tuning guides,
see the :doc:`admin guide <../admin-guide/mm/index>`.

.. toctree::
   :maxdepth: 1

   physical_memory
   page_tables
   process_addrs

Legacy Documentation
"""

# PCI/pci.rst.txt, lines 1-12, 76-90 and 206-212: comment, field list, kernel-doc, admonitions.
PCI = """\
.. SPDX-License-Identifier: GPL-2.0

==============================
How To Write Linux PCI Drivers
==============================

:Authors: - Martin Mares <mj@ucw.cz>
          - Grant Grundler <grundler@parisc-linux.org>

The world of PCI is vast and full of (mostly unpleasant) surprises.

PCI device drivers call ``pci_register_driver()`` during their
initialization with a pointer to a structure describing the driver
(``struct pci_driver``):

.. kernel-doc:: include/linux/pci.h
   :functions: pci_driver

The ID table is an array of ``struct pci_device_id`` entries ending with an
all-zero entry.  Definitions with static const are generally preferred.

.. note::
   pci_enable_device() can fail! Check the return value.

.. warning::
   OS BUG: we don't check resource allocations before enabling those
   resources.
"""

# locking/lockdep-design.rst.txt, lines 57-97: a literal block, a simple and a grid table.
LOCKDEP = """\
A contrived example::

   modprobe/2287 is trying to acquire lock:
    (&sio_locks[i].lock){-.-.}, at: [<c02867fd>] mutex_lock+0x21/0x24

For a given lock, the bit positions from left to right indicate the usage
of the lock and readlock (if exists), for each of the n STATEs listed
above respectively, and the character displayed at each bit position
indicates:

   ===  ===================================================
   '.'  acquired while irqs disabled and not in irq context
   '-'  acquired in irq context
   ===  ===================================================

For a given STATE, whether the lock is ever acquired in that STATE
context and whether that STATE is enabled yields four possible cases as
shown in the table below.

  +--------------+-------------+--------------+
  |              | irq enabled | irq disabled |
  +--------------+-------------+--------------+
  | ever in irq  |     '?'     |      '-'     |
  +--------------+-------------+--------------+

The character '-' suggests irq is disabled.
"""

# process/coding-style.rst.txt, lines 583-595: a code-block indented with tabs.
CODING_STYLE = (
    "The bug in this code is that on some exit paths ``foo`` is NULL.  Normally the\n"
    "fix for this is to split it up into two error labels ``err_free_bar:`` and\n"
    "``err_free_foo:``:\n\n"
    ".. code-block:: c\n\n"
    "\t err_free_bar:\n\t\tkfree(foo->bar);\n\t err_free_foo:\n\t\tkfree(foo);\n\t\treturn ret;\n\n"
    "Ideally you should simulate errors to test all exit paths.\n"
)


def test_rst_titles_roles_and_toctree():
    assert rst_to_text(MM_INDEX) == (
        "Linux Memory Management Documentation\n\nMemory Management Guide\n\n"
        "This is a guide to understanding the memory management subsystem of Linux. If you are "
        "looking for advice on simply allocating memory, see the memory_allocation. For "
        "controlling and tuning guides, see the admin guide.\n\nLegacy Documentation"
    )
    assert rst_title(MM_INDEX) == "Linux Memory Management Documentation"


def test_rst_drops_metadata_and_directives_keeps_admonitions():
    assert rst_to_text(PCI) == (
        "How To Write Linux PCI Drivers\n\n"
        "The world of PCI is vast and full of (mostly unpleasant) surprises.\n\n"
        "PCI device drivers call pci_register_driver() during their initialization with a "
        "pointer to a structure describing the driver (struct pci_driver):\n\n"
        "The ID table is an array of struct pci_device_id entries ending with an all-zero "
        "entry. Definitions with static const are generally preferred.\n\n"
        "pci_enable_device() can fail! Check the return value.\n\n"
        "OS BUG: we don't check resource allocations before enabling those resources."
    )


def test_rst_literal_blocks_and_tables():
    text = rst_to_text(LOCKDEP)
    assert text.startswith("A contrived example:\n\nFor a given lock, the bit positions")
    assert "modprobe" not in text and "===" not in text and "irq enabled" not in text
    assert text.endswith("shown in the table below.\n\nThe character '-' suggests irq is disabled.")
    kept = rst_to_text(LOCKDEP, keep_code=True)
    assert (
        "A contrived example:\n\nmodprobe/2287 is trying to acquire lock:\n"
        " (&sio_locks[i].lock){-.-.}, at: [<c02867fd>] mutex_lock+0x21/0x24\n\nFor a given"
    ) in kept
    assert "irq enabled" not in kept  # tables are not code


@pytest.mark.parametrize(
    ("keep_code", "expected"),
    [
        (False, ""),
        # Tabs expand to 8 columns; the block loses its common indent (9 columns).
        (True, "err_free_bar:\n       kfree(foo->bar);\nerr_free_foo:\n       kfree(foo);\n"
               "       return ret;\n\n"),
    ],
)
def test_rst_code_block(keep_code, expected):
    assert rst_to_text(CODING_STYLE, keep_code=keep_code) == (
        "The bug in this code is that on some exit paths foo is NULL. Normally the fix for this "
        "is to split it up into two error labels err_free_bar: and err_free_foo::\n\n"
        f"{expected}Ideally you should simulate errors to test all exit paths."
    )


@pytest.mark.parametrize(
    ("rst", "text"),
    [
        ("rules and how to use `SPDX <https://spdx.org/>`_ identifiers",
         "rules and how to use SPDX identifiers"),
        ("Each memory model defines :c:func:`pfn_to_page` and :c:func:`page_to_pfn`",
         "Each memory model defines pfn_to_page and page_to_pfn"),
        ("see :ref:`Documentation/process/license-rules.rst <kernel_licensing>`.",
         "see Documentation/process/license-rules.rst."),
        ("the **only** way, *not* schedule, see [1]_ and `info\ngcc`",
         "the only way, not schedule, see and info gcc"),
        ("- 'ever used'                                       [ == !unused        ]",
         "'ever used' [ == !unused ]"),
        ("Literal ``*ptr*`` and ``:ref:`x``` stay verbatim",
         "Literal *ptr* and :ref:`x` stay verbatim"),
    ],
)
def test_rst_inline_markup(rst, text):
    assert rst_to_text(rst) == text


def test_rst_whole_linux_doc_sample():
    files = sorted(LINUX_DOC.rglob("*.rst.txt"))
    assert len(files) >= 150
    chars = markup = empty = 0
    for path in files:
        text = rst_to_text(path.read_text(encoding="utf-8"))
        empty += not text  # process/maintainers.rst.txt is one directive and nothing else
        chars += len(text)
        markup += (
            text.count("`") + text.count("``") * 10
            + len(re.findall(r"::(?=\s|$)|^\.\. |^([=\-~^*+#])\1{3,}$|^\+[-=]+\+", text, re.M))
        )
    # Leftover markup (stray backticks, "::", directives, underlines) is noise, not corpus.
    assert empty == 1 and chars > 1_000_000 and markup / chars < 1e-5


# A README in the style of a GitHub project, with prose from process/howto.rst.txt.
README = """\
---
title: Kernel development HOWTO
---
# HOWTO do Linux kernel development <!-- generated from howto.rst -->

[![docs](https://img.shields.io/badge/docs-kernel.org-blue.svg)](https://docs.kernel.org)

This is the **be-all, end-all** document on this topic. It contains instructions on how
to become a Linux kernel developer; see the [coding style](process/coding-style.md)
and run `scripts/checkpatch.pl`.<br>
It tries to not contain anything related to the technical aspects of kernel programming.

![flow of a patch](img/patch-flow.png)

Legal Issues
------------

* The Linux kernel source code is released under the GPL.
* Please see the file `COPYING` in the main directory of the source tree.

```sh
make menuconfig
```

    git log --oneline

| file | purpose |
|------|---------|
| README | background |

<p align="center">Read <a href="https://kernel.org">kernel.org</a> first.</p>

> Do not ask on the Linux kernel mailing list.
"""

README_TEXT = [
    "HOWTO do Linux kernel development",
    "This is the be-all, end-all document on this topic. It contains instructions on how to "
    "become a Linux kernel developer; see the coding style and run scripts/checkpatch.pl. It "
    "tries to not contain anything related to the technical aspects of kernel programming.",
    "Legal Issues",
    "The Linux kernel source code is released under the GPL.",
    "Please see the file COPYING in the main directory of the source tree.",
    "Read kernel.org first.",
    "Do not ask on the Linux kernel mailing list.",
]


def test_markdown_to_text():
    assert markdown_to_text(README) == "\n\n".join(README_TEXT)
    kept = markdown_to_text(README, keep_code=True).split("\n\n")
    assert kept == README_TEXT[:5] + ["make menuconfig", "git log --oneline"] + README_TEXT[5:]
    assert markdown_title(README) == "HOWTO do Linux kernel development"
    assert markdown_title("no heading here") is None
    assert markdown_to_text("") == rst_to_text("") == ""
