"""`GET /docs`: the OpenAPI document browsable with Swagger UI, vendored and served by the app
itself: the page loads nothing from another origin and runs no inline script."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.processes import REPO_ROOT

pytestmark = pytest.mark.usefixtures("stack")

SWAGGER_UI = REPO_ROOT / "api" / "static" / "swagger-ui"
SCRIPT_TYPES = {"text/javascript", "application/javascript"}


class PageReferences(HTMLParser):
    """The URLs a page makes the browser load, and the bodies of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.others: list[str] = []  # any other src or href
        self.data_urls: dict[str, str] = {}
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "script":
            self._in_script = True
            self.scripts.append(attributes.get("src", ""))
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"])
        else:
            self.others += [attributes[name] for name in ("src", "href") if name in attributes]
        self.data_urls.update({name: value for name, value in attributes.items()
                               if name.startswith("data-") and name.endswith("-url")})

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/")


@pytest.fixture
def page(client: Any) -> tuple[Any, PageReferences]:
    response = client.get("/docs")  # no token: public, like /openapi.json
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    references = PageReferences()
    references.feed(response.get_data(as_text=True))
    return response, references


def test_the_page_loads_only_same_origin_assets_and_no_inline_script(
    page: tuple[Any, PageReferences]
) -> None:
    response, references = page
    assert references.scripts and references.stylesheets
    assert "" not in references.scripts, "a <script> without src"
    assert not references.inline_scripts
    for url in [*references.scripts, *references.stylesheets, *references.data_urls.values()]:
        assert _same_origin(url), url
    assert references.others == ["data:,"]  # the empty favicon, so the browser asks for none
    policy = response.headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";")}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no other origin
    assert directives["connect-src"] == ["'self'"]


def test_its_assets_answer_with_their_content_types(client: Any,
                                                    page: tuple[Any, PageReferences]) -> None:
    _, references = page
    for url in references.scripts:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.mimetype in SCRIPT_TYPES, (url, asset.mimetype)
    for url in references.stylesheets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.mimetype == "text/css", (url, asset.mimetype)
    document = client.get(references.data_urls["data-openapi-url"])
    assert document.status_code == 200
    assert document.mimetype == "application/json"
    assert document.get_json()["openapi"].startswith("3.1")


def test_swagger_ui_is_vendored_with_its_licence() -> None:
    vendored = {path.name for path in SWAGGER_UI.iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"} <= vendored
    assert "Apache License" in (SWAGGER_UI / "LICENSE").read_text()
    version = (SWAGGER_UI / "VERSION").read_text()
    pinned = (REPO_ROOT / "scripts" / "vendor-swagger-ui.sh").read_text()
    assert f'VERSION="${{1:-{version.split()[1]}}}"' in pinned, "VERSION differs from the pin"
