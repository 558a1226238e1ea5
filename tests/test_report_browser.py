"""report.html in a real headless browser (Debian's chromium): it renders, fetches nothing,
no two text boxes overlap (every section opened), at a wide and a narrow window; screenshots
of the first screen go to ``$NA64_ARTEFACTS`` (default: the test's temporary folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
WIDTHS = (1400, 800)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Opens every section, then lists the pairs of text boxes that overlap (leaf elements with
# text, one box per line of text; an element and its own ancestor or descendant do not count)
# into <pre id="overlaps">.
PROBE = """
<script>
document.querySelectorAll('details').forEach(d => d.open = true);
const sel = 'h1,h2,h3,p,td,th,caption,figcaption,summary,a,code,b';
const leaf = e => e.innerText.trim() && ![...e.children].some(c => c.matches(sel));
const boxes = [...document.querySelectorAll(sel)].filter(leaf).flatMap(
    e => [...e.getClientRects()].filter(r => r.width * r.height > 0).map(r => [e, r]));
const out = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const [a, ra] = boxes[i], [b, rb] = boxes[j];
  if (a === b || a.contains(b) || b.contains(a)) continue;
  const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
  const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
  if (w > 1 && h > 1) out.push([a.innerText.slice(0, 40), b.innerText.slice(0, 40)]);
}
const pre = document.createElement('pre'); pre.id = 'overlaps';
pre.textContent = JSON.stringify({n: boxes.length, overlaps: out});
document.body.appendChild(pre);
</script>
"""


def _chromium(tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_report_renders_without_overlapping_text(analyzed_sample, tmp_path, width):
    report = analyzed_sample / "report.html"
    text = report.read_text()
    assert report.stat().st_size < 2e6  # the shipped sample's report stays small
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from outside
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", PROBE + "</body>"))
    dom = _chromium(tmp_path, f"--window-size={width},1000", "--dump-dom", probed.as_uri())
    found = json.loads(re.search(r'<pre id="overlaps">(.*?)</pre>', dom, re.S).group(1))
    assert found["n"] > 100  # the page rendered: every section's text has a box
    assert found["overlaps"] == []
    artefacts = Path(os.environ.get("NA64_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / f"report_{width}.png"
    _chromium(tmp_path, f"--window-size={width},1000", f"--screenshot={shot}", report.as_uri())
    assert shot.stat().st_size > 10_000


def test_the_probe_sees_a_planted_overlap(tmp_path):
    """The overlap check is not vacuous: two texts drawn on top of each other are found."""
    page = tmp_path / "overlap.html"
    page.write_text(
        '<html><body><p style="position:absolute;top:10px">NA64 Simulation</p>'
        '<p style="position:absolute;top:12px">/a/long/path/to/cuts.toml</p>'
        + PROBE
        + "</body></html>"
    )
    dom = _chromium(tmp_path, "--window-size=800,600", "--dump-dom", page.as_uri())
    found = json.loads(re.search(r'<pre id="overlaps">(.*?)</pre>', dom, re.S).group(1))
    assert found["overlaps"] == [["NA64 Simulation", "/a/long/path/to/cuts.toml"]]
