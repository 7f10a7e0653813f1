"""bngrader/sanitize.py: what a human opens is inert, and the course's own content survives.

Payload variants of each kind (script, event handlers, javascript: links, frames, SVG, forms,
meta refresh), in Markdown, in raw HTML fragments and in a whole page; the judge is the hostile
tests' own parser (tests/hostile/html.py), not the sanitiser's."""

from __future__ import annotations

import pytest

from bngrader import sanitize
from hostile.html import active_html

PAYLOADS = [
    "<script>window.__xss = 1</script>",
    "<img src=x onerror=\"window.__xss=1\">",
    "<details open ontoggle=\"window.__xss=1\">x</details>",
    "<a href=\"javascript:window.__xss=1\">click</a>",
    "<a href=\"JaVaScRiPt&colon;window.__xss=1\">click</a>",
    "<iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "<svg><script>window.__xss=1</script></svg>",
    "<svg onload=\"window.__xss=1\"></svg>",
    "<form action=\"javascript:1\"><button>go</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss=1\">",
    "<object data=\"javascript:window.__xss=1\"></object>",
    "<body onload=\"window.__xss=1\">",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_active_html_is_removed_from_fragments_and_markdown(payload):
    assert active_html(payload)[0], f"the judge must see the payload itself: {payload}"
    assert not active_html(sanitize.clean_html(payload))[0]
    markdown = f"# Title\n\nSome text {payload} and $x^2$.\n"
    assert not active_html(sanitize._render_markdown(sanitize.clean_markdown(markdown)))[0]


def test_markdown_links_with_a_script_scheme_are_defused():
    cleaned = sanitize.clean_markdown("[click](javascript:alert(1)) and [ok](https://example.org)")
    page = sanitize._render_markdown(cleaned)
    assert not active_html(page)[0] and 'href="https://example.org"' in page


def test_the_course_markdown_survives():
    source = ("## Batch norm\n\n$$\\hat x_i = \\frac{x_i - \\mu_B}{\\sqrt{\\sigma_B^2 + \\epsilon}}$$\n\n"
              "Inline $\\gamma < \\beta$ and `x < y`, a **bold** word, a [link](https://arxiv.org/abs/1502.03167),\n\n"
              "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nx = 1 < 2\n```\n")
    assert sanitize.clean_markdown(source) == source
    # a '<' that could open a tag inside code is shown as a look-alike (U+FF1C), by design
    assert sanitize.clean_markdown("`x = <b>`") == "`x = \uff1cb>`"


def test_a_page_is_rebuilt_with_a_csp_and_only_the_local_mathjax():
    page = ("<html><head><title>fb</title><script>evil()</script><style>p{color:red}</style></head>"
            "<body><p onclick=\"x()\">hi $x$</p><script src=\"https://cdn.example/mj.js\"></script></body></html>")
    out = sanitize.safe_page(page)
    found, csp = active_html(out, allowed_src="mathjax/MathJax.js")
    assert not found and len(csp) == 1, (found, csp)
    assert "default-src 'none'" in csp[0] and "connect-src 'none'" in csp[0]
    assert "cdn.example" not in out and "evil()" not in out and "p{color:red}" in out and "hi $x$" in out
