//! A ticket code as a QR code: an SVG image for `Ticket.qrSvg`, grey pixels for the PDF.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

/// Modules of white border the QR specification asks for around the symbol.
const QUIET_ZONE: usize = 4;

fn symbol(code: &str) -> anyhow::Result<QrCode> {
    // Level M survives a scuffed or creased paper ticket; codes are ~140 ASCII characters.
    Ok(QrCode::with_error_correction_level(
        code.as_bytes(),
        EcLevel::M,
    )?)
}

/// The code as a standalone SVG document.
pub fn svg(code: &str) -> anyhow::Result<String> {
    Ok(symbol(code)?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The code as a square of 8-bit grey pixels (0 = dark), `scale` pixels per module with the
/// quiet zone around it: the side length and the pixels, row by row from the top.
pub fn grey_pixels(code: &str, scale: usize) -> anyhow::Result<(usize, Vec<u8>)> {
    let qr = symbol(code)?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for y in my * scale..(my + 1) * scale {
            pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
        }
    }
    Ok((side, pixels))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pixels_decode_back_to_the_code() {
        let code = "AQID.signature-like_text";
        let (side, pixels) = super::grey_pixels(code, 3).unwrap();
        let mut img =
            rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| pixels[y * side + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, code);
    }

    #[test]
    fn the_svg_is_an_svg_document() {
        let svg = super::svg("hello").unwrap();
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"), "{svg}");
    }
}
