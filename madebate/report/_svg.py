"""A compiled paradigm drawn as SVG, generated here (no graphviz): the slots placed by a
networkx layout of the delivery graph (a circle; a star with the hub in the middle when one slot
alone exchanges messages with every other and the others do not talk among themselves), one
arrow per delivery edge labelled with the steps that use it, and the schedule as a legend."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from madebate._text import show_controls
from madebate.engine._paradigm_compile import CompiledParadigm

_NODE_R = 22.0
_RING_R = 120.0
_LINE_H = 16.0
_CHAR_W = 6.6  # rough width of one 11px character, to size the canvas for the legend


def markup_text(value: object) -> str:
    """Text for HTML or SVG: escaped (quotes too, for attributes), with control characters made
    visible by the one rule the terminal output uses too (`madebate._text.show_controls`; XML
    forbids most C0 controls, and a bidi override would reorder the page). None is empty."""
    return show_controls(escape("" if value is None else str(value), quote=True))


_e = markup_text


def _steps_label(steps: list[int]) -> str:
    """1-based step numbers with runs folded: [1, 2, 3, 5] -> '1-3,5'."""
    parts: list[str] = []
    i = 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and steps[j + 1] == steps[j] + 1:
            j += 1
        parts.append(str(steps[i]) if i == j else f"{steps[i]}-{steps[j]}")
        i = j + 1
    return ",".join(parts)


def paradigm_svg(
    paradigm: CompiledParadigm,
    *,
    personas: Mapping[str, str] | None = None,
    standalone: bool = False,
    id_prefix: str = "pd",
) -> str:
    """The paradigm as an SVG document (`standalone`: with the XML namespace, for a .svg file)
    or an element to inline into HTML. `personas` maps slots to names shown beside the nodes."""
    personas = personas or {}
    slots = list(paradigm.slots)

    # (indent, text) lines: the title, then each step's deliveries.
    legend: list[tuple[int, str]] = [
        (0, f"{paradigm.name}: decides after each {paradigm.decision_points}")
    ]
    for step in paradigm.steps:
        together = " (together)" if len(step.speakers) > 1 else ""
        legend.append((0, f"step {step.index + 1}{together}  [{step.label}]"))
        for speaker in step.speakers:
            to = ", ".join(step.receivers[speaker]) or "nobody"
            legend.append((1, f"{speaker} \u2192 {to}"))

    name_w = max((len(personas.get(s, "")) for s in slots), default=0) * _CHAR_W
    margin = 20.0 + max(name_w, 30.0)
    cx = margin + _RING_R + _NODE_R
    cy = 30.0 + _RING_R + _NODE_R
    width = max(2 * cx, 60.0 + max(len(text) for _, text in legend) * _CHAR_W)
    cx = width / 2
    legend_top = cy + _RING_R + _NODE_R + 34.0
    height = legend_top + len(legend) * _LINE_H + 10.0

    pos = {slot: (cx + _RING_R * x, cy + _RING_R * y) for slot, (x, y) in layout(paradigm).items()}

    edges: dict[tuple[str, str], list[int]] = {}
    for step in paradigm.steps:
        for speaker, receivers in step.receivers.items():
            for receiver in receivers:
                steps = edges.setdefault((speaker, receiver), [])
                if step.index + 1 not in steps:
                    steps.append(step.index + 1)

    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    marker = f"{_e(id_prefix)}-arrow"
    out = [
        f'<svg{ns} class="paradigm" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="paradigm {_e(paradigm.name)}" font-family="sans-serif" font-size="11">',
        f"<title>paradigm {_e(paradigm.name)}</title>",
        "<defs>",
        f'<marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>',
        "</defs>",
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#fff"/>',
    ]

    for (src, dst), steps in edges.items():
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1.0
        # Bend the arrow when the reverse edge exists too, so the two do not overlap.
        bend = 0.18 * dist if (dst, src) in edges else 0.0
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        qx, qy = mx + bend * dy / dist, my - bend * dx / dist  # control point, left of src->dst
        sx, sy = _towards(x1, y1, qx, qy, _NODE_R + 2)
        ex, ey = _towards(x2, y2, qx, qy, _NODE_R + 4)
        lx, ly = 0.25 * sx + 0.5 * qx + 0.25 * ex, 0.25 * sy + 0.5 * qy + 0.25 * ey
        label = _steps_label(steps)
        out.append(
            f'<g class="edge" data-from="{_e(src)}" data-to="{_e(dst)}" data-steps="{_e(label)}">'
            f"<title>{_e(src)} \u2192 {_e(dst)}: step {_e(label)}</title>"
            f'<path d="M{sx:.1f},{sy:.1f} Q{qx:.1f},{qy:.1f} {ex:.1f},{ey:.1f}" fill="none" '
            f'stroke="#777" stroke-width="1.4" marker-end="url(#{marker})"/>'
            f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle" fill="#1a5fb4" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{_e(label)}</text></g>'
        )

    for slot in slots:
        x, y = pos[slot]
        drafter = slot == paradigm.drafter
        fill, stroke = ("#fdf0d5", "#b5835a") if drafter else ("#e8f0fe", "#1a5fb4")
        dash = ' stroke-dasharray="4 3"' if drafter else ""
        persona = personas.get(slot, "")
        tip = f"{slot} ({persona})" if persona else slot
        if drafter:
            tip += ", drafter (does not vote)"
        out.append(
            f'<g class="node" data-slot="{_e(slot)}"><title>{_e(tip)}</title>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{_NODE_R:.0f}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{_e(slot)}</text>'
        )
        if persona:
            ux, uy = (x - cx) / _RING_R, (y - cy) / _RING_R
            if math.hypot(ux, uy) < 0.5:  # the hub, in the middle: its name goes below it
                ux, uy = 0.0, 1.0
            px, py = x + ux * (_NODE_R + 8), y + uy * (_NODE_R + 8) + 4 + (6 if uy > 0.3 else 0)
            anchor = "start" if ux > 0.3 else "end" if ux < -0.3 else "middle"
            if anchor == "middle":
                py += 6 if uy > 0 else -2
            out.append(
                f'<text class="persona" x="{px:.1f}" y="{py:.1f}" text-anchor="{anchor}" '
                f'fill="#444">{_e(persona)}</text>'
            )
        out.append("</g>")

    for i, (indent, text) in enumerate(legend):
        y = legend_top + i * _LINE_H
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(
            f'<text class="legend" x="{20 + 24 * indent}" y="{y:.1f}"{weight}>{_e(text)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def hub(paradigm: CompiledParadigm) -> str | None:
    """The slot drawn in the middle: the one slot that exchanges messages (either way) with
    every other, when no two of the others exchange any (a star, like the report paradigm's
    reporter); None for any other graph, which is drawn on a circle."""
    undirected = paradigm.graph.to_undirected(as_view=True)
    others = len(paradigm.slots) - 1
    if others < 2:
        return None
    centres = [s for s in paradigm.slots if len(set(undirected[s]) - {s}) == others]
    if len(centres) != 1:
        return None
    centre = centres[0]
    rim = [s for s in paradigm.slots if s != centre]
    return centre if all(set(undirected[s]) <= {s, centre} for s in rim) else None


def layout(paradigm: CompiledParadigm) -> dict[str, tuple[float, float]]:
    """Unit positions for the drawing (y grows downwards): networkx's shell layout with the hub
    (if any) at the centre and the other slots on the unit circle in slot order, the first at
    the top, going clockwise."""
    import networkx as nx

    centre = hub(paradigm)
    rim = [s for s in paradigm.slots if s != centre]
    shells = [[centre], rim] if centre is not None else [rim]
    raw = nx.shell_layout(paradigm.graph, nlist=shells, rotate=0)
    radius = max(math.hypot(float(x), float(y)) for x, y in raw.values()) or 1.0
    # networkx goes counter-clockwise from the right with y up; turn a quarter so that the
    # first rim slot is at the top, and flip for SVG's y-down so the ring goes clockwise.
    out: dict[str, tuple[float, float]] = {}
    for slot in paradigm.slots:
        x, y = (float(v) / radius for v in raw[slot])
        out[slot] = (round(y, 9) + 0.0, round(-x, 9) + 0.0)
    return out


def _towards(x: float, y: float, tx: float, ty: float, d: float) -> tuple[float, float]:
    """The point `d` away from (x, y) in the direction of (tx, ty)."""
    dx, dy = tx - x, ty - y
    n = math.hypot(dx, dy) or 1.0
    return x + dx / n * d, y + dy / n * d
