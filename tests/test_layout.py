"""The house rule of the layout: imports point downwards only (api -> layers -> geo)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"geo": {"layers", "api"}, "layers": {"api"}}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_downwards(package):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_packages(p) & FORBIDDEN[package])
        for p in (ROOT / package).rglob("*.py")
        if _imported_packages(p) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_no_cdn_urls_in_code_or_static_files():
    hosts = ("cdn.jsdelivr", "unpkg.com", "cdnjs.cloudflare", "code.jquery.com", "bootstrapcdn")
    found = [
        str(p.relative_to(ROOT))
        for package in ("geo", "layers", "api")
        for p in (ROOT / package).rglob("*")
        if p.is_file() and p.suffix in {".py", ".html", ".js", ".j2"} and "vendor" not in p.parts
        and any(h in p.read_text(encoding="utf-8", errors="ignore") for h in hosts)
    ]
    assert found == []
