"""The book's Sphinx extension: the ``{paper}`` role, which quotes a paper's number from ``book/data``, and the API
reference's cross-references resolved to where each object is defined.

``{paper}`paper003_table1:error_mean:aggregation=MIN,shrinkage=EXP``` renders that cell exactly as the paper wrote
it (:func:`marginlib.papers.tables.cell`), so prose never types a paper's number by hand. A reference that does
not select exactly one cell is a build warning (an error under ``-W``). Registered in ``_config.yml``
(``sphinx.extra_extensions``).

The API appendix documents each object once, in the module that defines it. Docstrings also name objects by the
package that re-exports them (:class:`marginlib.methods.TRADES`), relative to their package (``theory.theorem21``
inside ``marginlib.papers.p001_mma``) or by a type alias (``Stat``). :func:`resolve_reexport` follows such a name to
the object and links its defining module's entry; a name that leads outside ``marginlib`` (torch, numpy), to a
constant, a type alias or an object without an entry of its own is shown as plain text; a name that leads nowhere
stays a warning, so a broken reference still fails the build.

A figure's image gets its caption as ``alt`` text (:func:`caption_as_alt`) where it has none of its own: myst-nb
names a glued figure's image by its file hash, which tells a screen reader nothing.
"""
from __future__ import annotations

import importlib
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


def _lookup(name: str) -> Any:
    """The object a dotted ``name`` names (module attributes followed from the longest importable module), or
    None."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def resolve_reexport(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    """``missing-reference`` handler for Python objects (see the module docstring)."""
    if node.get("refdomain") != "py":
        return None
    target, module = node["reftarget"], node.get("py:module") or ""
    scopes = [module, module.rpartition(".")[0], ""]
    for scope in scopes:
        obj = _lookup(f"{scope}.{target}" if scope else target)
        if obj is None:
            continue
        if isinstance(obj, type(importlib)):
            canonical = obj.__name__
        elif getattr(obj, "__module__", None) and hasattr(obj, "__qualname__"):
            canonical = f"{obj.__module__}.{obj.__qualname__}"
        else:
            return contnode          # a constant or a type alias: it exists, it has no entry of its own
        if not canonical.startswith("marginlib"):
            return contnode          # torch, numpy, typing: not this book's to document
        domain = env.get_domain("py")
        if canonical in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode)
        return contnode              # it exists but has no entry (outside its module's __all__)
    return None


def caption_as_alt(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """``doctree-resolved``: every figure's image whose ``alt`` is missing or its own file name gets the figure's
    caption, as rendered (glued numbers resolved, math as its TeX source)."""
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        for image in figure.findall(nodes.image):
            alt = image.get("alt", "")
            if caption is not None and (not alt or alt.endswith(image.get("uri", "\0").rsplit("/", 1)[-1])):
                image["alt"] = " ".join(caption.astext().split())


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_role("paper", PaperNumber())
    app.connect("doctree-resolved", caption_as_alt)
    app.connect("missing-reference", resolve_reexport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
