"""The API appendix lists every module of marginlib once; re-exported names lead to where objects are defined."""
import re

from marginlib.book import pages, sphinx
from marginlib.book.results import repo_root


def test_every_module_is_documented_once():
    root = repo_root()
    md = pages.api_reference(root)
    listed = re.findall(r"^\.\. automodule:: (\S+)$", md, re.M)
    expected = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
                for p in (root / "marginlib").rglob("*.py") if p.name != "__main__.py"}
    assert sorted(listed) == sorted(expected) and len(listed) == len(set(listed))
    assert ".. automodule:: marginlib.methods\n   :members:\n   :ignore-module-all:" in md   # defined there only
    assert ".. automodule:: marginlib.cost\n   :members:\n\n" in md


def test_reexported_and_relative_names_are_found():
    from marginlib.methods.adversarial import TRADES
    from marginlib.papers.p001_mma import theory

    assert sphinx._lookup("marginlib.methods.TRADES") is TRADES
    assert sphinx._lookup("marginlib.papers.p001_mma.theory") is theory
    assert sphinx._lookup("marginlib.methods.no_such_thing") is None
