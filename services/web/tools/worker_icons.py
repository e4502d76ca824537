"""Draw the grid-worker app's icons (public/worker/icons/): a grid of four blocks with a location pin, on the
console's navy. Writes the SVG and its PNG renderings (192 and 512 px, and a maskable 512 px with the motif inside
the safe zone). Pillow only; run with the repository's venv: .venv/bin/python services/web/tools/worker_icons.py"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "public" / "worker" / "icons"
NAVY, PALE, RED, WHITE = "#1f3a5f", "#cfd8e3", "#d32f2f", "#ffffff"
# On a 100-unit canvas: four blocks and a pin standing on the lower right one.
BLOCKS = [(20, 20, 47, 47), (53, 20, 80, 47), (20, 53, 47, 80), (53, 53, 80, 80)]
PIN_CENTRE, PIN_RADIUS, PIN_TIP = (66.5, 52.0), 15.0, (66.5, 86.0)

SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect width="100" height="100" rx="18" fill="{NAVY}"/>
{''.join(f'<rect x="{a}" y="{b}" width="{c - a}" height="{d - b}" rx="3" fill="{PALE}"/>' for a, b, c, d in BLOCKS[:3])}
<rect x="53" y="53" width="27" height="27" rx="3" fill="{PALE}" opacity="0.55"/>
<path d="M{PIN_TIP[0]} {PIN_TIP[1]}L{PIN_CENTRE[0] - 13} {PIN_CENTRE[1] + 7.5}A{PIN_RADIUS} {PIN_RADIUS} 0 1 1 \
{PIN_CENTRE[0] + 13} {PIN_CENTRE[1] + 7.5}Z" fill="{RED}" stroke="{WHITE}" stroke-width="2.5"/>
<circle cx="{PIN_CENTRE[0]}" cy="{PIN_CENTRE[1]}" r="5.5" fill="{WHITE}"/>
</svg>
"""


def draw(size: int, *, maskable: bool) -> Image.Image:
    scale = 4  # drawn large, then reduced: smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    # A maskable icon fills its square and keeps the motif inside the central 80 % circle.
    inset = 0.14 if maskable else 0.0
    unit = big * (1 - 2 * inset) / 100
    offset = big * inset

    def xy(x: float, y: float) -> tuple[float, float]:
        return offset + x * unit, offset + y * unit

    if maskable:
        pen.rectangle((0, 0, big, big), fill=NAVY)
    else:
        pen.rounded_rectangle((*xy(0, 0), *xy(100, 100)), radius=18 * unit, fill=NAVY)
    for n, (a, b, c, d) in enumerate(BLOCKS):
        colour = PALE if n < 3 else "#7f93ab"
        pen.rounded_rectangle((*xy(a, b), *xy(c, d)), radius=3 * unit, fill=colour)
    cx, cy = PIN_CENTRE
    outline = 2.5
    pen.polygon([xy(*PIN_TIP), xy(cx - 13 - outline, cy + 7.5), xy(cx + 13 + outline, cy + 7.5)], fill=WHITE)
    pen.ellipse((*xy(cx - PIN_RADIUS - outline, cy - PIN_RADIUS - outline),
                 *xy(cx + PIN_RADIUS + outline, cy + PIN_RADIUS + outline)), fill=WHITE)
    pen.polygon([xy(PIN_TIP[0], PIN_TIP[1] - outline * 1.6), xy(cx - 13, cy + 7.5), xy(cx + 13, cy + 7.5)], fill=RED)
    pen.ellipse((*xy(cx - PIN_RADIUS, cy - PIN_RADIUS), *xy(cx + PIN_RADIUS, cy + PIN_RADIUS)), fill=RED)
    pen.ellipse((*xy(cx - 5.5, cy - 5.5), *xy(cx + 5.5, cy + 5.5)), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(SVG)
    for size in (192, 512):
        draw(size, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
    draw(512, maskable=True).save(OUT / "maskable-512.png", optimize=True)
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
