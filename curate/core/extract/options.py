"""How a page is read: the parser's options (the extract stage's PageOptions)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageOptions:
    # Also take data-src / the first srcset candidate when src is missing or a placeholder.
    lazy_images: bool = False
    # A page (HTTP payload) larger than this is skipped, never read into memory whole.
    max_page_bytes: int = 10 * 1024 * 1024
    # A page that takes longer than this to parse is skipped: no page can hang a task.
    page_time_limit: float = 10.0
