#!/usr/bin/env python3
"""A small line chart as a hand-written SVG (no plotting library).

Python 3 standard library only.

  plot.py DATA.json OUT.svg
  plot.py OLD.svg OUT.svg      (redraw from the data an SVG written by bench-e2e carries)

DATA.json: {"title": str, "subtitle": str, "xlabel": str, "ylabel": str,
            "x": [numbers], "series": [{"name": str, "y": [numbers or null], "dash": bool}],
            "logx": bool, "logy": bool}
Both axes may be logarithmic (decade ticks with 2 and 5 in between); points are marked and the
last value of each series is labelled.
"""

import json
import math
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
W, H = 800, 480
ML, MR, MT, MB = 78, 250, 62, 58  # margins: the legend lives in the right margin


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def fmt_num(v):
    if v >= 1000:
        return "%g" % v
    if v >= 1:
        return ("%.1f" % v).rstrip("0").rstrip(".")
    if v >= 0.01:
        return ("%.2f" % v).rstrip("0").rstrip(".")
    return "%g" % v


def log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo / 1.0001 <= v <= hi * 1.0001:
                ticks.append(v)
        e += 1
    return ticks


def lin_ticks(lo, hi, n=6):
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def render(data):
    xs = data["x"]
    series = data["series"]
    logx, logy = data.get("logx", True), data.get("logy", True)
    ys = [y for s in series for y in s["y"] if y is not None and y > 0]
    if not xs or not ys:
        raise ValueError("nothing to plot")
    xlo, xhi = min(xs), max(xs)
    ylo, yhi = min(ys), max(ys)
    if logy:
        ylo, yhi = 10 ** math.floor(math.log10(ylo)), 10 ** math.ceil(math.log10(yhi))
    else:
        ylo, yhi = 0.0, yhi * 1.1
    if logx:
        xlo, xhi = xlo / 1.25, xhi * 1.25
    else:
        pad = (xhi - xlo) * 0.05 or 1
        xlo, xhi = xlo - pad, xhi + pad
    pw, ph = W - ML - MR, H - MT - MB

    def sx(v):
        f = (math.log10(v) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo)) if logx else (v - xlo) / (xhi - xlo)
        return ML + f * pw

    def sy(v):
        f = (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) if logy else (v - ylo) / (yhi - ylo)
        return MT + ph - f * ph

    out = []
    a = out.append
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
      'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">' % (W, H, W, H))
    a('<rect width="100%" height="100%" fill="white"/>')
    a('<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>' % (ML, esc(data.get("title", ""))))
    if data.get("subtitle"):
        a('<text x="%d" y="43" font-size="11" fill="#555">%s</text>' % (ML, esc(data["subtitle"])))
    # grid and ticks
    yt = log_ticks(ylo, yhi) if logy else lin_ticks(ylo, yhi)
    for v in yt:
        y = sy(v)
        major = (not logy) or abs(math.log10(v) - round(math.log10(v))) < 1e-9
        a('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>'
          % (ML, y, ML + pw, y, "#ccc" if major else "#eee"))
        a('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>' % (ML - 6, y, fmt_num(v)))
    xt = xs if logx else lin_ticks(xlo, xhi)
    for v in xt:
        x = sx(v)
        a('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee" stroke-width="1"/>' % (x, MT, x, MT + ph))
        a('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>' % (x, MT + ph, x, MT + ph + 5))
        a('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, MT + ph + 18, fmt_num(v)))
    # axes
    a('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (ML, MT, ML, MT + ph))
    a('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (ML, MT + ph, ML + pw, MT + ph))
    a('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (ML + pw / 2, H - 14, esc(data.get("xlabel", ""))))
    a('<text transform="translate(18,%.1f) rotate(-90)" text-anchor="middle">%s</text>' % (MT + ph / 2, esc(data.get("ylabel", ""))))
    # lines
    labels = []
    for i, s in enumerate(series):
        c = s.get("color") or COLORS[i % len(COLORS)]
        pts = [(sx(x), sy(y)) for x, y in zip(xs, s["y"]) if y is not None and y > 0]
        if not pts:
            continue
        dash = ' stroke-dasharray="6 4"' if s.get("dash") else ""
        a('<polyline fill="none" stroke="%s" stroke-width="2.2"%s points="%s"/>'
          % (c, dash, " ".join("%.1f,%.1f" % p for p in pts)))
        for x, y in pts:
            a('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, c))
        last = [y for y in s["y"] if y is not None and y > 0][-1]
        labels.append([pts[-1][1], pts[-1][0] + 7, c, fmt_num(last)])
    # end-of-line value labels, pushed apart so they never overlap
    labels.sort()
    for k in range(1, len(labels)):
        labels[k][0] = max(labels[k][0], labels[k - 1][0] + 13)
    for y, x, c, text in labels:
        a('<text x="%.1f" y="%.1f" font-size="11" fill="%s" dominant-baseline="middle">%s s</text>' % (x, y, c, text))
    # legend
    lx, ly = ML + pw + 28, MT + 10
    for i, s in enumerate(series):
        c = s.get("color") or COLORS[i % len(COLORS)]
        y = ly + i * 22
        dash = ' stroke-dasharray="6 4"' if s.get("dash") else ""
        a('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.2"%s/>' % (lx, y, lx + 26, y, c, dash))
        a('<circle cx="%d" cy="%d" r="3.5" fill="%s"/>' % (lx + 13, y, c))
        a('<text x="%d" y="%d" dominant-baseline="middle">%s</text>' % (lx + 34, y, esc(s["name"])))
    for j, note in enumerate(data.get("notes", [])):
        a('<text x="%d" y="%d" font-size="10" fill="#555">%s</text>' % (lx, ly + len(series) * 22 + 12 + j * 14, esc(note)))
    a("</svg>")
    return "\n".join(out) + "\n"


def embed(data):
    """The data as JSON that may sit inside an XML comment (which cannot contain `--`)."""
    return json.dumps(data, sort_keys=True).replace("--", "-\\u002d")


def load(path):
    with open(path) as f:
        text = f.read()
    if path.endswith(".svg"):
        marker = "<!-- data for benches/e2e/plot.py: "
        if marker not in text:
            raise SystemExit("%s carries no plot data" % path)
        text = text.split(marker, 1)[1].rsplit(" -->", 1)[0]
    return json.loads(text)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: plot.py DATA.json|OLD.svg OUT.svg")
    data = load(sys.argv[1])
    svg = render(data)
    with open(sys.argv[2], "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
