"""A self-contained HTML report: every plot embedded (base64 PNG), no external resource.

``write_report(path, title, sections)`` renders a list of :class:`Section` (a heading, short
text, tables and images) into one HTML file that opens offline in any browser: inline CSS, no
scripts, no fonts or images fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; line-height: 1.45; }
h1 { border-bottom: 3px solid #1f4e79; padding-bottom: .3em; }
h2 { color: #1f4e79; border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: .25em .6em; text-align: right; }
th { background: #eef3f8; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figure img { max-width: 560px; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; max-width: 560px; }
.blinded { background: #fbe9e7; border-left: 6px solid #c62828; padding: .6em 1em; }
.unblinded { background: #fff8e1; border-left: 6px solid #f9a825; padding: .6em 1em; }
.note { color: #555; font-size: .9em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


@dataclass
class Table:
    header: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Section:
    """One part of the report."""

    anchor: str
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (HTML-escaped on render)
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)
    raw_html: str = ""  # trusted markup made by the toolkit (e.g. the blinding banner)
    preformatted: str = ""


def _fmt(value) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    return html.escape(str(value))


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def embed_png(path: Path) -> str:
    """A data URI of a PNG file (the report carries its images)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def render(title: str, sections: list[Section], subtitle: str = "") -> str:
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(subtitle)}</p>' if subtitle else "",
        f"<nav>{nav}</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{html.escape(s.anchor)}"><h2>{html.escape(s.title)}</h2>')
        parts.append(s.raw_html)
        parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text)
        parts.extend(_table(t) for t in s.tables)
        if s.preformatted:
            parts.append(f"<pre>{html.escape(s.preformatted)}</pre>")
        for png, caption in s.images:
            parts.append(
                f'<figure><img src="{embed_png(png)}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, title: str, sections: list[Section], subtitle: str = "") -> Path:
    path = Path(path)
    path.write_text(render(title, sections, subtitle), encoding="utf-8")
    return path


__all__ = ["Section", "Table", "embed_png", "render", "write_report"]
