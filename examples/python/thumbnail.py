"""An image thumbnail with Pillow: a PNG, JPEG, GIF, BMP or PPM image in, a 64x64 PNG out.

Deploy and call it:

    citadel deploy thumbnail examples/python/thumbnail.py --memory 512M
    citadel invoke thumbnail --file photo.jpg > thumb.png
    curl --data-binary @photo.jpg http://127.0.0.1:8080/function/thumbnail > thumb.png

The image is turned as its EXIF orientation says, scaled to cover 64x64 and cropped to its
centre (ImageOps.fit), so the thumbnail is always 64x64; transparency is kept. The answer's
content type is image/png. A request that is not an image fails the call
(`ValueError: not an image Pillow can read ...`); an image of more than 50
million pixels is refused before it is decoded (`DecompressionBombError`).

Pillow loads its file-format plugins on first use: `Image.preinit()` below loads the
common ones (BMP, GIF, JPEG, PPM, PNG) at import, in the function's template, so that
instances are forked with them loaded rather than each loading them on its first call.
Size `--memory` for the largest image you accept: a decoded 12-megapixel photo is 36 MB.
"""
import io
import warnings

from PIL import Image, ImageOps

SIZE = (64, 64)
Image.MAX_IMAGE_PIXELS = 25_000_000  # Pillow refuses twice this (DecompressionBombError)
Image.preinit()
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def handle(event, context):
    if not isinstance(event, (bytes, bytearray)):
        raise ValueError("send the image's bytes, not JSON")
    try:
        img = Image.open(io.BytesIO(event))
    except Image.UnidentifiedImageError:
        raise ValueError("not an image Pillow can read (PNG, JPEG, GIF, ...)") from None
    with img:
        img.draft("RGB", (SIZE[0] * 2, SIZE[1] * 2))  # JPEG: decode at a reduced scale
        img = ImageOps.exif_transpose(img)
        alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
        img = img.convert("RGBA" if alpha else "RGB")
        thumb = ImageOps.fit(img, SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "PNG", optimize=True)
    context.content_type_out = "image/png"
    return out.getvalue()
