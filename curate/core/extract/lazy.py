"""Which URL an `<img>` stands for: the one documented place of the lazy-image rule.

Pages that load images lazily put a placeholder in `src` (nothing, an inline
`data:` pixel, `about:blank`, a spacer GIF) and the real URL in `data-src` or a
`srcset`. With `PageOptions.lazy_images` on, an image whose `src` is a
placeholder (`is_placeholder`) takes, in this order, the first of these that
gives a URL:

1. `data-src` (stripped);
2. the first candidate of `srcset`;
3. the first candidate of `data-srcset`.

When none gives one, `src` stays. With the option off (the default), `src` is
the image URL, whatever it holds.
"""
from __future__ import annotations

import re

# A placeholder file name: the last path segment of src (query and fragment
# removed, lower-cased) is a well-known spacer / transparent-pixel / lazy-loader
# stand-in: `blank.gif`, `spacer.png`, `1x1.gif`, `pixel.gif`, `transparent.png`,
# `clear.gif`, `placeholder.svg`, `lazyload-placeholder.png`, `1x1-white.jpg`,
# `grey_bg.gif`, `loading.gif`, ...
_PLACEHOLDER_FILE = re.compile(r"""
    (?: (?:blank|spacer|pixel|clear|transparent|trans|empty|dot|1x1|placeholder
          |lazy|lazyload|lazy-load|loading|grey|gray|grey_bg|gray_bg)
      | (?:blank|spacer|1x1|placeholder|lazy|lazyload|lazy-load|transparent)[-_][a-z0-9_-]*
      | [a-z0-9_-]*[-_]placeholder )
    \.(?:gif|png|jpe?g|svg|webp)\Z""", re.VERBOSE)
# HTML's "ASCII whitespace", which separates srcset candidates from their descriptors.
_SRCSET_FIRST = re.compile(r"[\t\n\f\r ,]*([^\t\n\f\r ]+)")


def is_placeholder(src: str) -> bool:
    """Whether an `<img src>` is a stand-in: empty, `data:`, `about:blank`, or a spacer file."""
    src = src.strip()
    if not src:
        return True
    lowered = src.lower()
    if lowered.startswith("data:") or lowered == "about:blank":
        return True
    path = lowered.split("#", 1)[0].split("?", 1)[0]
    return _PLACEHOLDER_FILE.match(path.rsplit("/", 1)[-1]) is not None


def first_srcset_url(srcset: str) -> str:
    """The URL of the first candidate of a `srcset` (HTML's parsing: trailing commas dropped)."""
    match = _SRCSET_FIRST.match(srcset)
    return match.group(1).rstrip(",") if match else ""


def lazy_source(img: dict[str, str]) -> str | None:
    """The URL a lazy-loaded image stands for, or None when its src is not a placeholder
    or it names no other source."""
    if not is_placeholder(img.get("src", "")):
        return None
    url = img.get("data-src", "").strip()
    if url:
        return url
    for key in ("srcset", "data-srcset"):
        url = first_srcset_url(img.get(key, ""))
        if url:
            return url
    return None
