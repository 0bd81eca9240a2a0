"""The report page as the standard library's HTMLParser reads it: what a browser would
build from the same bytes, so an escape that failed shows as an element or attribute."""
from __future__ import annotations

from html.parser import HTMLParser

# The elements the page is made of; anything else was injected.
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code", "div",
             "b", "table", "tr", "th", "td", "ul", "li", "img", "details", "summary", "pre",
             "sub"}
# Their attributes (no on* handler, no href: nothing on the page is a link).
PAGE_ATTRIBUTES = {"lang", "charset", "class", "id", "src", "alt", "open", "data-row",
                   "data-key", "data-value", "data-note", "colspan"}


class Parsed(HTMLParser):
    """Every element with its attributes, and the text of the page, as parsed."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.texts.append(data)
        if self._in_title:
            self.title += data

    def handle_comment(self, data):
        raise AssertionError(f"a comment was injected: {data!r}")

    @property
    def text(self) -> str:
        return "".join(self.texts)
