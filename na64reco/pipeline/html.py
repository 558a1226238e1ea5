"""A self-contained HTML report: every plot embedded (base64 PNG), no external resource.

``write_report(path, title, first_screen, sections)`` renders a first screen (the summary a
physicist reads first) and a list of :class:`Section` (a heading, short text, tables and
images) that fold open (``<details>``) into one HTML file that opens offline in any browser:
inline CSS, no scripts, no fonts or images fetched from anywhere. Images are thumbnails that
enlarge when clicked (CSS ``:target``: the same embedded image, shown full size).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from na64reco.documents import write_text

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 1em auto;
       max-width: 1280px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 3px solid #1f4e79; padding-bottom: .2em; margin-bottom: .2em; }
h2 { color: #1f4e79; display: inline; font-size: 1.25em; }
h3 { color: #1f4e79; font-size: 1.05em; margin: .2em 0 .4em; }
nav { margin: .4em 0 .8em; font-size: .92em; }
nav a { margin-right: .9em; }
.first { display: grid; grid-template-columns: 1fr 1fr; gap: .8em; margin: .6em 0 1em; }
@media (max-width: 900px) { .first { grid-template-columns: 1fr; } }
.card { border: 1px solid #ccd; border-radius: 6px; padding: .5em .8em; background: #fbfcfe;
        overflow-x: auto; }
details { border-top: 1px solid #ccc; padding: .5em 0; }
summary { cursor: pointer; list-style-position: outside; }
table { border-collapse: collapse; margin: .5em 0; font-size: .88em; }
caption { caption-side: top; text-align: left; color: #555; font-size: .92em; padding: .2em 0; }
th, td { border: 1px solid #bbb; padding: .2em .5em; text-align: right; white-space: nowrap; }
th { background: #eef3f8; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: .4em; vertical-align: top; width: 280px; }
figure img.thumb { width: 280px; border: 1px solid #ddd; cursor: zoom-in; background: white; }
figure img.thumb:target { position: fixed; inset: 2vh 2vw; width: 96vw; height: 96vh;
                          object-fit: contain; z-index: 10; cursor: default;
                          box-shadow: 0 0 0 100vmax rgba(0, 0, 0, .6); }
figure a.close { display: none; }
figure:has(img.thumb:target) a.close { display: block; position: fixed; top: 3vh; right: 3vw;
    z-index: 11; background: white; padding: .2em .6em; border-radius: 4px; font-weight: bold; }
figcaption { font-size: .8em; color: #555; overflow-wrap: anywhere; }
.card figure { display: block; width: auto; margin: .2em 0; }
.card figure img.thumb { width: 100%; max-width: 600px; }
.blinded { background: #fbe9e7; border-left: 6px solid #c62828; padding: .5em 1em; }
.unblinded { background: #fff8e1; border-left: 6px solid #f9a825; padding: .5em 1em; }
.note { color: #555; font-size: .9em; margin: .2em 0; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .8em; }
"""


@dataclass
class Table:
    header: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Section:
    """One part of the report (folded unless ``open``)."""

    anchor: str
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (HTML-escaped on render)
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)
    raw_html: str = ""  # trusted markup made by the toolkit (e.g. the blinding banner)
    preformatted: str = ""
    open: bool = False


@dataclass
class Card:
    """One box of the first screen."""

    title: str
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def _fmt(value) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    return html.escape(str(value))


def table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def embed_png(path: Path) -> str:
    """A data URI of a PNG file (the report carries its images)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


class _Figures:
    """Numbers the figures of a report, so that each thumbnail has its own anchor."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, png: Path, caption: str) -> str:
        self.n += 1
        anchor = f"fig{self.n}"
        alt = html.escape(caption)
        return (
            f'<figure><a href="#{anchor}"><img class="thumb" id="{anchor}" '
            f'src="{embed_png(png)}" alt="{alt}"></a><a class="close" href="#top">close</a>'
            f"<figcaption>{alt}</figcaption></figure>"
        )


def render(
    title: str, first: list[Card], sections: list[Section], subtitle: str = "", banner: str = ""
) -> str:
    figure = _Figures()
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f'<h1 id="top">{html.escape(title)}</h1>',
        f'<p class="note">{html.escape(subtitle)}</p>' if subtitle else "",
        banner,
        '<div class="first">',
    ]
    for card in first:
        parts.append(f'<div class="card"><h3>{html.escape(card.title)}</h3>')
        parts.extend(f'<p class="note">{html.escape(p)}</p>' for p in card.text)
        parts.extend(table_html(t) for t in card.tables)
        parts.extend(figure(png, caption) for png, caption in card.images)
        parts.append("</div>")
    parts += ["</div>", f"<nav>{nav}</nav>"]
    for s in sections:
        opened = " open" if s.open else ""
        parts.append(
            f'<details id="{html.escape(s.anchor)}"{opened}><summary><h2>{html.escape(s.title)}'
            "</h2></summary>"
        )
        parts.append(s.raw_html)
        parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text)
        parts.extend(table_html(t) for t in s.tables)
        if s.preformatted:
            parts.append(f"<pre>{html.escape(s.preformatted)}</pre>")
        parts.extend(figure(png, caption) for png, caption in s.images)
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: str | Path,
    title: str,
    first: list[Card],
    sections: list[Section],
    subtitle: str = "",
    banner: str = "",
) -> Path:
    """Render and write atomically (a reader never sees half a report)."""
    return write_text(path, render(title, first, sections, subtitle, banner))


__all__ = ["Card", "Section", "Table", "embed_png", "render", "table_html", "write_report"]
