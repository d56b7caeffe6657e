"""Pictures that compare models: grids of digits side by side, each under its label (``ezgan sample``
with several ``--checkpoint``, the training animations' frames)."""
from ezgan.runs.outputs import save_png
from ezgan.grids import grid_image


def label_font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def under_label(image, label):
    """A greyscale PIL image under a white band with ``label`` centred in it."""
    from PIL import Image, ImageDraw

    band = max(16, round(0.045 * image.width))
    framed = Image.new("L", (image.width, image.height + band), 255)
    framed.paste(image.convert("L"), (0, band))
    draw = ImageDraw.Draw(framed)
    font = label_font(round(band * 0.7))
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    draw.text(((image.width - (right - left)) / 2 - left, (band - (bottom - top)) / 2 - top), label, fill=0, font=font)
    return framed


def save_labelled_grids(labelled_images, path, columns=None, scale=3, gap=24):
    """Write grids side by side in one PNG, each under its label: ``labelled_images`` is [(label, images), ...]."""
    from PIL import Image

    panels = [under_label(grid_image(images, columns, scale), label) for label, images in labelled_images]
    canvas = Image.new("L", (sum(panel.width for panel in panels) + gap * (len(panels) - 1),
                             max(panel.height for panel in panels)), 255)
    left = 0
    for panel in panels:
        canvas.paste(panel, (left, 0))
        left += panel.width + gap
    save_png(canvas, path)
