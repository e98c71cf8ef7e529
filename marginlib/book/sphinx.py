"""The book's Sphinx extension: the ``{paper}`` role, which quotes a paper's number from ``book/data``.

``{paper}`paper003_table1:error_mean:aggregation=MIN,shrinkage=EXP``` renders that cell exactly as the paper wrote
it (:func:`marginlib.papers.tables.cell`), so prose never types a paper's number by hand. A reference that does
not select exactly one cell is a build warning (an error under ``-W``). Registered in ``_config.yml``
(``sphinx.extra_extensions``).
"""
from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxRole


class PaperNumber(SphinxRole):
    """``{paper}`STEM:COLUMN:KEY=VALUE,...``` -> the cell's text, with the reference as its tooltip."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        from marginlib.papers import tables

        try:
            text = tables.cell(self.text)
        except (ValueError, FileNotFoundError) as err:
            msg = self.inliner.reporter.warning(f"{{paper}} role: {err}", line=self.lineno)
            return [nodes.problematic(self.rawtext, self.rawtext)], [msg]
        return [nodes.inline(self.rawtext, text, classes=["paper-number"], title=f"paper: {self.text}")], []


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_role("paper", PaperNumber())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
