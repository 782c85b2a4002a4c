//! Printable tickets: one A4 page per ticket with the event, date, venue, seat, holder and the
//! code's QR image, made with `lopdf`. The QR is an image XObject (8-bit grey), so any PDF
//! viewer shows it sharp and a scanner or a test can decode it.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// What one page shows.
pub struct PdfTicket {
    pub event_title: String,
    pub starts_at: String,
    pub venue: Option<String>,
    pub ticket_type: String,
    pub seat: Option<String>,
    pub holder: String,
    pub code: String,
}

/// Pixels per QR module in the embedded image.
const QR_SCALE: usize = 4;
/// A4 in points.
const PAGE: (i64, i64) = (595, 842);

/// The PDF bytes: one page per ticket.
pub fn render(tickets: &[PdfTicket]) -> anyhow::Result<Vec<u8>> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut kids = Vec::new();
    for ticket in tickets {
        let (side, pixels) = super::qr::grey_pixels(&ticket.code, QR_SCALE)?;
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => side as i64, "Height" => side as i64,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            pixels,
        ));
        let resources = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => regular, "F2" => bold },
            "XObject" => dictionary! { "QR" => image },
        });
        let content = Content {
            operations: page_operations(ticket),
        };
        let contents = doc.add_object(Stream::new(dictionary! {}, content.encode()?));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Resources" => resources,
            "Contents" => contents,
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "MediaBox" => vec![0.into(), 0.into(), PAGE.0.into(), PAGE.1.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)?;
    Ok(bytes)
}

fn page_operations(t: &PdfTicket) -> Vec<Operation> {
    let mut ops = Vec::new();
    let mut line = |font: &str, size: i64, y: i64, text: &str| {
        ops.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![font.into(), size.into()]),
            Operation::new("Td", vec![56.into(), y.into()]),
            Operation::new("Tj", vec![Object::string_literal(win_ansi(text))]),
            Operation::new("ET", vec![]),
        ]);
    };
    line("F2", 24, 770, &t.event_title);
    line("F1", 14, 740, &t.starts_at);
    if let Some(venue) = &t.venue {
        line("F1", 14, 720, venue);
    }
    line("F1", 12, 690, &format!("Ticket: {}", t.ticket_type));
    if let Some(seat) = &t.seat {
        line("F1", 12, 672, &format!("Seat: {seat}"));
    }
    line("F1", 12, 654, &format!("Holder: {}", t.holder));
    // The QR image, 300 pt square, centred below the text.
    let size = 300;
    ops.extend([
        Operation::new("q", vec![]),
        Operation::new(
            "cm",
            vec![
                size.into(),
                0.into(),
                0.into(),
                size.into(),
                ((PAGE.0 - size) / 2).into(),
                300.into(),
            ],
        ),
        Operation::new("Do", vec!["QR".into()]),
        Operation::new("Q", vec![]),
    ]);
    ops
}

/// The standard fonts speak WinAnsi (close to Latin-1); anything else prints as `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u32::from(c) {
            0x20..=0x7e | 0xa0..=0xff => c as u8,
            _ => b'?',
        })
        .collect()
}
