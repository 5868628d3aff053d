"""How `backorders local` (and so the api function) serves the web pages: an allow-list
of text files with the right types and caching, nothing else under /panel, no secrets in
them. Plain HTTP, no browser needed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PANEL = ROOT / "functions" / "api" / "panel"


def api_module():
    """functions/api/app.py, for its allow-list (loaded the way the local runtime does)."""
    from backorders import topology
    from backorders_local import functions

    functions.load(topology.function("api"))
    return sys.modules["backorders_fn_api"]


def test_the_allow_list_is_exactly_the_files_of_the_panel_folder():
    allowed = api_module().PANEL_ASSETS
    assert set(allowed) == {p.name for p in PANEL.iterdir() if p.is_file()}
    expected = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    for name, content_type in allowed.items():
        assert content_type.startswith(expected[Path(name).suffix]), name


@pytest.mark.parametrize("name", sorted(p.name for p in PANEL.iterdir() if p.is_file()))
def test_each_file_is_served_as_text_with_its_type_caching_and_safety_headers(local_site, name):
    r = requests.get(f"{local_site.url}/panel/{name}", timeout=5)
    assert r.status_code == 200
    assert r.content == (PANEL / name).read_bytes()
    assert r.headers["Content-Type"] == api_module().PANEL_ASSETS[name]
    assert r.headers["Cache-Control"] == ("no-cache" if name.endswith(".html") else "public, max-age=300")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    # the same ETag again: 304 and no body
    again = requests.get(f"{local_site.url}/panel/{name}", headers={"If-None-Match": r.headers["ETag"]}, timeout=5)
    assert (again.status_code, again.content) == (304, b"")


def test_panel_redirects_to_the_index_relative_to_where_it_is_served(local_site):
    r = requests.get(f"{local_site.url}/panel", allow_redirects=False, timeout=5)
    assert (r.status_code, r.headers["Location"]) == (302, "panel/index.html")
    assert requests.get(f"{local_site.url}/panel", timeout=5).url == f"{local_site.url}/panel/index.html"


@pytest.mark.parametrize(
    "path",
    ["/panel/app.py", "/panel/..%2Fapp.py", "/panel/%2e%2e", "/panel/.env", "/panel/INDEX.HTML", "/panel/index.html%00.js", "/panel/panel"],
)
def test_nothing_else_is_served_under_panel(local_site, path):
    r = requests.get(local_site.url + path, timeout=5)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_the_pages_hold_no_secret_and_keep_the_key_in_session_storage_only():
    code = {p.name: p.read_text() for p in PANEL.iterdir() if p.suffix in (".js", ".html")}
    for name, text in code.items():
        assert "Bearer" not in text and "Authorization" not in text, name  # never the admin token
        assert "localStorage" not in text and "document.cookie" not in text, name
        assert ".innerHTML" not in text and "eval(" not in text, name  # what the server sends is text
        assert not re.search(r"\b(vk|sk)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8,}", text), name  # no key in the code
    assert "sessionStorage" in code["common.js"]


def test_the_pages_link_only_to_allowed_files():
    allowed = set(api_module().PANEL_ASSETS)
    for page in PANEL.glob("*.html"):
        refs = re.findall(r'(?:src|href)="([^"#]+)"', page.read_text())
        assert refs, page.name
        assert set(refs) <= allowed, (page.name, set(refs) - allowed)
    for script in PANEL.glob("*.js"):
        imports = re.findall(r'from "\./([^"]+)"', script.read_text())
        assert set(imports) <= allowed, script.name
