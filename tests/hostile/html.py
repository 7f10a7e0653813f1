"""Hostile submissions: html (see hostile/__init__.py).

Stored XSS against the instructor (Formgrader renders the autograded notebook in their
Jupyter session) and against the learner (feedback pages). Every payload sets the canary
``window.__xss`` (or ``parent.__xss``) or opens ``alert()``. Each student hands in the full
solution (10 points) plus one family of payloads: in Markdown cells (the title cell too),
in outputs made at run time, and in metadata and attachments.

:func:`active_html` is this test's own check of a page (independent of bngrader/sanitize.py).
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import nbformat

from hostile import HONEST, Case, Context

CANARY = "window.__xss=1"
MARKDOWN_PAYLOADS = [
    f"<script>{CANARY}</script>",
    f'<img src=x onerror="{CANARY}">',
    f'<details open ontoggle="{CANARY}"><summary>s</summary>d</details>',
    f'<svg onload="{CANARY}"><circle r="1"/></svg>',
    f"[a link](javascript:{CANARY})",
    f"[spaced link]( JaVaScRiPt:{CANARY})",
    f'<a href="jav&#x61;script:{CANARY}">entity link</a>',
    f"[ref link][r]\n\n[r]: javascript:{CANARY}",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    f'<object data="javascript:{CANARY}"></object><embed src="javascript:{CANARY}">',
    f'<meta http-equiv="refresh" content="0;url=javascript:{CANARY}">',
    '<base href="javascript:/">',
    f'<div style="background:url(javascript:{CANARY});width:expression(alert(1))">css</div>',
    f"<style>body {{ background: url(javascript:{CANARY}) }}</style>",
    f'<math><a xlink:href="javascript:{CANARY}">m</a></math>',
    f'<form action="javascript:{CANARY}"><button>go</button></form>',
    f'$x <img src=x onerror="{CANARY}"> y$ and $$a<script>{CANARY}</script>b$$',
    f'`<img src=x onerror="{CANARY}">` and <a href="data:text/html;base64,{base64.b64encode(b"<script>alert(1)</script>").decode()}">d</a>',
    f'<a href="vbscript:msgbox(1)">vb</a> <img src="x" ONERROR="{CANARY}">',
]
SVG = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{CANARY}"><script>{CANARY}</script></svg>'
OUTPUT_CELL = f"""from IPython.display import HTML, SVG, IFrame, Javascript, Latex, Markdown, display
display(HTML('<b>bold</b><img src=x onerror="{CANARY}">'))
display(HTML('<script>{CANARY}</script>', metadata={{"isolated": True}}))
display(Javascript('{CANARY}'))
display(Markdown('**md** <img src=x onerror="{CANARY}"> [j](javascript:{CANARY})'))
display(SVG('''{SVG}'''))
display(Latex(r'$x$ <script>{CANARY}</script>'))
display(IFrame("javascript:{CANARY}", 10, 10))
display({{"text/plain": "png", "image/png": "{base64.b64encode(b'<script>alert(1)</script>').decode()}"}},
        raw=True, metadata={{"image/png": {{"width": '1 onerror="{CANARY}"'}}}})
display({{"text/plain": "view", "application/vnd.jupyter.widget-view+json":
         {{"model_id": "x", "version_major": 2, "version_minor": 0}}}}, raw=True)
import ipywidgets
display(ipywidgets.HTML('<img src=x onerror="{CANARY}">'))
print("outputs made")
"""
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
    "m1": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
           "state": {"value": f'<img src=x onerror="{CANARY}">'}}}}}


def _markdown(source: str, **extra):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.update(extra)
    return cell


def _with_title(nb, payload: str):
    nb.cells[0].source = nb.cells[0].source + "\n\n" + payload
    return nb


def _insert_after(nb, ctx: Context, grade_id: str, cells: list) -> None:
    at = ctx.index(grade_id) + 1
    nb.cells[at:at] = cells


def build(ctx: Context) -> None:
    # 1. Markdown: the title cell and cells the learner added after an answer, one payload each
    nb = _with_title(ctx.solved(), MARKDOWN_PAYLOADS[0])
    _insert_after(nb, ctx, "batchnorm_forward", [_markdown(f"My notes {i}: {p}") for i, p in enumerate(MARKDOWN_PAYLOADS)])
    ctx.write(ctx.own("xss_markdown"), nb)
    # 2. Outputs made at run time (a cell the learner added, after the last answer)
    nb = ctx.solved()
    _insert_after(nb, ctx, "batchnorm_layer", [nbformat.v4.new_code_cell(OUTPUT_CELL)])
    ctx.write(ctx.own("xss_outputs"), nb)
    # 3. Metadata and attachments: widget state, a forged title, tags, a raw HTML cell,
    #    attachments that are not images, outputs forged in the submitted file
    nb = ctx.solved()
    nb.metadata["widgets"] = WIDGET_STATE
    nb.metadata["title"] = f"</title><script>{CANARY}</script>"
    svg64 = base64.b64encode(SVG.encode()).decode()
    html64 = base64.b64encode(f"<script>{CANARY}</script>".encode()).decode()
    forged = nbformat.v4.new_code_cell("1 + 1")
    forged.outputs = [nbformat.v4.new_output("display_data", {"text/html": f"<script>{CANARY}</script>"})]
    raw = nbformat.v4.new_raw_cell(f"<script>{CANARY}</script><img src=x onerror=\"{CANARY}\">")
    raw.metadata["raw_mimetype"] = "text/html"
    _insert_after(nb, ctx, "batchnorm_forward", [
        _markdown("A figure: ![fig](attachment:fig.svg) and ![page](attachment:page.png)",
                  attachments={"fig.svg": {"image/svg+xml": svg64}, "page.png": {"image/png": html64}}),
        _markdown("tagged", metadata={"tags": [f'"><script>{CANARY}</script>'], "alt": f'"><script>{CANARY}</script>'}),
        raw, forged])
    ctx.write(ctx.own("xss_metadata"), nb)


CASES: dict[str, Case] = {
    "xss_markdown": Case("graded", HONEST, {"test_batchnorm_forward": 3, "test_batchnorm_layer": 3}),
    "xss_outputs": Case("graded", HONEST, {"test_batchnorm_forward": 3, "test_batchnorm_layer": 3}),
    "xss_metadata": Case("graded", HONEST, {"test_batchnorm_forward": 3, "test_batchnorm_layer": 3}),
}


# ----------------------------------------------------------------------------- the check

class _Active(HTMLParser):
    """Collects what would run in a page: scripts, event handlers, script URLs, frames and the like."""

    BANNED = {"script", "iframe", "frame", "object", "embed", "applet", "base", "form", "svg", "math", "portal"}

    def __init__(self, allowed_src: str | None):
        super().__init__(convert_charrefs=True)
        self.allowed_src, self.found, self.csp = allowed_src, [], []

    def handle_starttag(self, tag, attrs):
        attrs = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and self.allowed_src and "nonce" in attrs and attrs.get("src", self.allowed_src) == self.allowed_src:
            return  # the page's own MathJax (its inline config and MathJax.js), nonce'd
        if tag in self.BANNED:
            self.found.append(f"<{tag}>")
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy":
            self.csp.append(attrs.get("content", ""))
        elif tag == "meta" and "http-equiv" in attrs:
            self.found.append(f"<meta http-equiv={attrs['http-equiv']}>")
        for name, value in attrs.items():
            bare = re.sub(r"[\s\x00-\x20]", "", value).lower()
            if name.startswith("on") or name == "srcdoc":
                self.found.append(f"<{tag} {name}>")
            elif bare.startswith(("javascript:", "vbscript:", "data:text/html", "data:image/svg")):
                self.found.append(f"<{tag} {name}={bare[:20]}>")
            elif name == "style" and ("url(" in bare or "expression(" in bare):
                self.found.append(f"<{tag} style={bare[:30]}>")

    handle_startendtag = handle_starttag


def active_html(page: str, allowed_src: str | None = None) -> tuple[list[str], list[str]]:
    """(active things found, Content-Security-Policy metas) in an HTML page or fragment."""
    parser = _Active(allowed_src)
    parser.feed(page)
    parser.close()
    return parser.found, parser.csp
