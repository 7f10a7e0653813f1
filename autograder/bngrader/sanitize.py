"""Neutralise active content in everything a human opens: feedback pages, the autograded
notebooks (Formgrader renders them in the instructor's Jupyter session), Formgrader's view.

Two layers, both built on nh3 (the Rust ``ammonia`` sanitiser) with one allowlist:

* :class:`SanitizeNotebook`, an nbconvert preprocessor, cleans the notebook itself before it
  is rendered or written: Markdown cells (their raw HTML, keeping Markdown syntax and math),
  every output (``text/html`` cleaned; JavaScript, SVG, widget views and unknown types
  dropped; PNG/JPEG kept only if they are PNG/JPEG), output and cell metadata that templates
  print (image sizes, tags, grade ids, comments), attachments and notebook metadata (widget
  state, title). A Markdown cell whose cleaned rendering still shows active HTML is shown
  as plain text instead (fail closed).
* :class:`SafeHTMLExporter` writes the feedback pages: it renders the cleaned notebook, then
  rebuilds the page: the body through nh3 again, the head from the template's title and CSS
  only, a Content-Security-Policy ``<meta>`` first, and the course's own MathJax (bundled by
  the ``jupyter-server-mathjax`` package, copied next to the page: nothing from a CDN) as the
  only scripts, allowed by a per-page nonce.

:func:`find_active` lists what would run in a page; the tests use it on every page.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import importlib.util
import re
import secrets
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import nh3
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

# ============================================================================ allowlist

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var", "center", "font", "details",
    "summary",
}
ATTRIBUTES = {
    "*": {"class", "id", "title", "align", "lang", "dir"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign"}, "th": {"colspan", "rowspan", "valign", "scope"},
    "col": {"span", "width"}, "ol": {"start", "type"}, "font": {"color", "size"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: only for PNG/JPEG images (see _keep_attribute)
DROP_WITH_CONTENT = {"script", "style", "template", "noscript", "xmp", "iframe", "noembed", "noframes",
                     "object", "embed", "svg", "math", "title", "textarea", "select", "option"}
IMAGE_DATA = re.compile(r"^data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*$", re.I)
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
KEEP_MIME = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg")
SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
# 1x1 transparent PNG: stands in for an attachment whose content was dropped (nbconvert needs one)
BLANK_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
REMOVED = "[grader: active content removed]"


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: data: URLs only as PNG/JPEG image sources; numbers for sizes."""
    if attribute in ("href", "src") and value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and IMAGE_DATA.match(value.strip()) else None
    if attribute in ("width", "height", "colspan", "rowspan", "span", "start", "size"):
        return value if re.fullmatch(r"\d{1,5}%?", value.strip()) else None
    return value


def clean_html(fragment: str, tags: set[str] = TAGS, attributes: dict = ATTRIBUTES) -> str:
    """An HTML fragment with only allowlisted tags, attributes and URL schemes left."""
    return nh3.clean(fragment, tags=tags, attributes=attributes, attribute_filter=_keep_attribute,
                     url_schemes=URL_SCHEMES, clean_content_tags=DROP_WITH_CONTENT - tags,
                     strip_comments=True, link_rel="noopener noreferrer")


# ============================================================================ Markdown

# Segments that Markdown renders as text (escaped), kept verbatim: fenced code, code spans,
# math, autolinks. A '<' that could open a tag becomes TeX's \lt in math and a
# look-alike (U+FF1C) in code: nothing protected can hold a tag, whatever the
# renderer decides is code or math.
_FENCE = r"(?m:^[ \t]{0,3}(?P<f>`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:^[ \t]{0,3}(?P=f)[ \t]*$|\Z))"
_MATH = (r"(?<!\\)\$\$[\s\S]+?(?<!\\)\$\$|\\\[[\s\S]+?\\\]|\\\([\s\S]+?\\\)"
         r"|\\begin\{(?P<env>[a-zA-Z]*\*?)\}[\s\S]*?\\end\{(?P=env)\}|(?<![\\$])\$(?!\s)[^$\n]+?(?<![\\\s])\$")
_CODE = r"(?P<ticks>`+)[\s\S]+?(?P=ticks)"
_AUTOLINK = r"<(?:https?|mailto):[^\s<>\"'`]+>"
_PROTECT = re.compile(f"{_FENCE}|(?P<math>{_MATH})|{_CODE}|{_AUTOLINK}")
_TAGLIKE = re.compile(r"<[A-Za-z!/?]")
_BAD_LINK = re.compile(r"(\]\(\s*<?|^\s{0,3}\[[^\]]+\]:\s*<?)\s*(?=[a-z][a-z0-9+.\-]*\s*:)(?!(?:https?|mailto)\s*:)",
                       re.I | re.M)
_UNESCAPE = {"&gt;": ">", "&amp;": "&", "&nbsp;": "\u00a0", "&quot;": '"'}


def _protect(source: str) -> tuple[str, list[str]]:
    kept: list[str] = []

    def keep(m: re.Match) -> str:
        text = m.group(0)
        if m.group("math"):
            text = _TAGLIKE.sub(lambda t: r"\lt " + t.group(0)[1:], text)
        elif not text.startswith("<"):  # code: a '<' that could open a tag is shown as a look-alike
            text = _TAGLIKE.sub(lambda t: "\uff1c" + t.group(0)[1:], text)
        kept.append(text)
        return f"\ue000{len(kept) - 1}\ue001"

    return _PROTECT.sub(keep, source), kept


def clean_markdown(source: str) -> str:
    """Markdown with its raw HTML sanitised and its syntax, code and math kept."""
    protected, kept = _protect(source)
    protected = _BAD_LINK.sub(lambda m: m.group(1) + "#removed-", protected)  # [x](javascript:...)
    cleaned = clean_html(protected)
    cleaned = re.sub(r"&(gt|amp|nbsp|quot);", lambda m: _UNESCAPE[m.group(0)], cleaned)
    cleaned = re.sub("\ue000(\\d+)\ue001", lambda m: kept[int(m.group(1))], cleaned)
    if find_active(_render_markdown(cleaned)):
        return as_text(source)
    return cleaned


def as_text(source: str) -> str:
    """A Markdown cell shown as an indented code block: every character escaped by any renderer."""
    body = "\n".join("    " + line for line in source.splitlines())
    return "*[grader: this cell's HTML could not be cleaned; shown as text]*\n\n" + body


def _render_markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    try:
        return markdown2html_mistune(source)
    except Exception:  # noqa: BLE001 - e.g. a missing attachment: the check has nothing to say
        return ""


# ============================================================================ the notebook

def _image_ok(mime: str, data) -> bool:
    if not isinstance(data, str):
        return False
    try:
        raw = base64.b64decode(re.sub(r"\s", "", data), validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(SIGNATURES[mime])


def _clean_output(out: dict) -> dict | None:
    kind = out.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": out.get("name") if out.get("name") in ("stdout", "stderr")
                else "stdout", "text": str(out.get("text", ""))}
    if kind == "error":
        return {"output_type": "error", "ename": str(out.get("ename", "")), "evalue": str(out.get("evalue", "")),
                "traceback": [str(t) for t in out.get("traceback", [])]}
    if kind not in ("display_data", "execute_result"):
        return None
    data, meta = {}, {}
    for mime, value in (out.get("data") or {}).items():
        if mime not in KEEP_MIME:
            continue
        if mime.startswith("image/"):
            if _image_ok(mime, value):
                data[mime] = value
                size = (out.get("metadata") or {}).get(mime) or {}
                dims = {k: v for k, v in size.items() if k in ("width", "height") and type(v) is int and 0 < v < 10**5}
                if dims:
                    meta[mime] = dims
            continue
        text = "".join(value) if isinstance(value, list) else str(value)
        data[mime] = clean_html(text) if mime == "text/html" else clean_markdown(text) if mime == "text/markdown" else text
    if not data or set(data) == {"text/plain"} and len(out.get("data") or {}) > 1:
        data.setdefault("text/plain", "")
        data["text/plain"] = (data["text/plain"] + "\n" if data["text/plain"] else "") + REMOVED
    cleaned = {"output_type": kind, "data": data, "metadata": meta}
    if kind == "execute_result":
        count = out.get("execution_count")
        cleaned["execution_count"] = count if type(count) is int else None
    return cleaned


def _clean_cell_metadata(cell) -> None:
    meta = cell.get("metadata", {})
    for key in [k for k in meta if k not in ("nbgrader", "tags", "deletable", "editable", "collapsed", "scrolled",
                                            "jupyter", "trusted")]:
        del meta[key]
    if "tags" in meta:
        meta["tags"] = [t for t in meta["tags"] if isinstance(t, str) and SAFE_NAME.match(t)] \
            if isinstance(meta["tags"], list) else []
    nbg = meta.get("nbgrader")
    if isinstance(nbg, dict):
        if "grade_id" in nbg and not (isinstance(nbg["grade_id"], str) and SAFE_NAME.match(nbg["grade_id"])):
            nbg["grade_id"] = "invalid-id"
        if isinstance(nbg.get("comment"), str):
            nbg["comment"] = clean_markdown(nbg["comment"])
        for key in ("points", "score"):
            if key in nbg and not isinstance(nbg[key], (int, float, type(None))):
                nbg[key] = 0
    elif nbg is not None:
        del meta["nbgrader"]
    if "id" in cell and not (isinstance(cell["id"], str) and SAFE_NAME.match(cell["id"])):
        cell["id"] = f"cell-{secrets.token_hex(6)}"


def _clean_attachments(cell) -> None:
    for name, bundle in list((cell.get("attachments") or {}).items()):
        kept = {m: v for m, v in (bundle or {}).items() if m in SIGNATURES and _image_ok(m, v)}
        cell["attachments"][name] = kept or {"image/png": BLANK_PNG}


def sanitize_notebook(nb):
    """Clean ``nb`` in place (see the module docstring); returns it."""
    from nbformat import from_dict

    meta = nb.setdefault("metadata", {})
    for key in [k for k in meta if k not in ("kernelspec", "language_info", "nbgrader")]:
        del meta[key]  # widget state, title, anything else a template might print
    for key in ("kernelspec", "language_info"):
        if isinstance(meta.get(key), dict):
            meta[key] = {k: re.sub(r"[^\w .+-]", "", v) for k, v in meta[key].items() if isinstance(v, str)}
    for cell in nb.get("cells", []):
        _clean_cell_metadata(cell)
        if cell.get("cell_type") == "markdown":
            cell["source"] = clean_markdown("".join(cell.get("source", "")))
            _clean_attachments(cell)
        elif cell.get("cell_type") == "raw":
            cell["source"] = clean_html("".join(cell.get("source", "")))
        elif cell.get("cell_type") == "code":
            cell["outputs"] = [from_dict(o) for o in map(_clean_output, cell.get("outputs", [])) if o]
            if type(cell.get("execution_count")) is not int:
                cell["execution_count"] = None
    return nb


class SanitizeNotebook(Preprocessor):
    """nbconvert/nbgrader preprocessor: :func:`sanitize_notebook` on the whole notebook."""

    enabled = Bool(True).tag(config=True)  # nbgrader registers preprocessors without enabling them

    def preprocess(self, nb, resources):
        return sanitize_notebook(nb), resources


# ============================================================================ pages

MATHJAX_CONFIG = """window.MathJax = {
  config: ["TeX-AMS-MML_HTMLorMML-full.js", "Safe.js"],
  tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true},
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  "HTML-CSS": {availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web",
               linebreaks: {automatic: true}},
  displayAlign: "center", messageStyle: "none", showMathMenu: false,
  menuSettings: {assistiveMML: false}
};"""
MATHJAX_DIR = "mathjax"
# What the page's MathJax loads, relative to jupyter-server-mathjax's static folder.
MATHJAX_FILES = ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "config/Safe.js", "extensions/*.js",
                 "extensions/TeX/**/*.js", "extensions/HTML-CSS/*.js", "jax/element/**/*.js", "jax/input/**/*.js",
                 "jax/output/HTML-CSS/**/*.js", "fonts/HTML-CSS/STIX-Web/woff/**/*.woff")


def content_security_policy(nonce: str) -> str:
    """No script but the nonce'd MathJax (and what it loads); nothing fetched but its fonts."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'unsafe-inline'; "
            "img-src data:; font-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'; "
            "frame-src 'none'; connect-src 'none'")


def mathjax_root() -> Path:
    return Path(importlib.util.find_spec("jupyter_server_mathjax").origin).parent / "static"


@lru_cache(maxsize=1)
def mathjax_files() -> dict[str, bytes]:
    """relative path (under ``mathjax/``) -> bytes, for the feedback folder."""
    root = mathjax_root()
    files = {}
    for pattern in MATHJAX_FILES:
        for path in sorted(root.glob(pattern)):
            files[f"{MATHJAX_DIR}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def safe_page(page: str) -> str:
    """The rendered page rebuilt: CSP first, the template's title and CSS, the body cleaned by nh3,
    the local MathJax as the only scripts."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")
    title = soup.title.get_text() if soup.title else ""
    styles = [s.get_text() for s in (soup.head or soup).find_all("style")]
    body = soup.body.decode_contents() if soup.body else ""
    nonce = secrets.token_urlsafe(18)
    css = "".join("<style>" + s.replace("</", "<\\/") + "</style>\n" for s in styles)
    return (f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{content_security_policy(nonce)}\">\n"
            f"<title>{html.escape(title)}</title>\n{css}"
            f"<script nonce=\"{nonce}\">{MATHJAX_CONFIG}</script>\n"
            f"<script nonce=\"{nonce}\" src=\"{MATHJAX_DIR}/MathJax.js\"></script>\n</head>\n<body>\n"
            f"{clean_html(body)}\n</body>\n</html>\n")


class SafeHTMLExporter(HTMLExporter):
    """HTMLExporter for feedback: the notebook cleaned again, the page rebuilt by :func:`safe_page`,
    the course's MathJax written next to the page (as extra outputs of the export)."""

    def from_notebook_node(self, nb, resources=None, **kw):
        nb = sanitize_notebook(copy.deepcopy(nb))
        output, resources = super().from_notebook_node(nb, resources, **kw)
        output = safe_page(output)
        problems = find_active(output, allowed_script_src=f"{MATHJAX_DIR}/MathJax.js")
        if problems:  # cannot happen with the page rebuilt above; fail closed if it ever does
            raise ValueError(f"feedback page still has active content: {problems[:3]}")
        resources.setdefault("outputs", {}).update(mathjax_files())
        return output, resources


# ============================================================================ checking

ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "svg",
               "math", "link", "portal", "template"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "cite",
             "lowsrc", "dynsrc", "srcset", "ping", "manifest", "codebase", "archive"}


class _Finder(HTMLParser):
    def __init__(self, allowed_script_src: str | None):
        super().__init__(convert_charrefs=True)
        self.allowed, self.problems, self.scripts = allowed_script_src, [], 0

    def handle_starttag(self, tag, attrs):
        values = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
            src = values.get("src")
            # the page's two MathJax scripts: its nonce'd inline config, then MathJax.js
            if self.allowed and values.get("nonce") and (src is None and self.scripts == 1 or src == self.allowed):
                return
        if tag == "meta" and values.get("http-equiv", "").lower() not in ("", "content-security-policy"):
            self.problems.append(f"<meta http-equiv={values['http-equiv']}>")
        if tag in ACTIVE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in values.items():
            url = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in ("srcdoc", "style") and (name == "srcdoc" or re.search(r"url\(|expression\(", url)):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in URL_ATTRS and (url.startswith(("javascript:", "vbscript:", "data:text/html"))
                                        or url.startswith("data:") and not IMAGE_DATA.match(value.strip())):
                self.problems.append(f"<{tag} {name}={url[:30]}>")

    handle_startendtag = handle_starttag


def find_active(page: str, allowed_script_src: str | None = None) -> list[str]:
    """What in ``page`` could run or navigate: scripts (but MathJax's, if allowed), event handlers,
    javascript:/vbscript:/data: URLs, frames, objects, <base>, <meta> refresh, forms, SVG."""
    finder = _Finder(allowed_script_src)
    finder.feed(page)
    finder.close()
    return finder.problems
