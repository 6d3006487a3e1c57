//! PDF rendering of drafted documents and letters: A4, one embedded font (DejaVu Sans, subset),
//! tagged for screen readers (a structure tree of headings and paragraphs, `/Lang fr-FR`), text
//! extractable (a ToUnicode map).
//!
//! Built for volume: the engine parses the font once, and keeps ready-compressed subsets keyed
//! by the characters they cover. Nearly every letter needs only the base subset (the template's
//! characters, ASCII and French letters), whose compressed program and maps are copied into
//! each file; a letter whose recipient's name needs other characters gets a subset with them,
//! made once and kept. Each letter is its own small file: a campaign never renders a list of
//! persons into one document.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use pdf_writer::types::{CidFontType, FontFlags, StructRole, SystemInfo, TextRenderingMode};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;
use vigie_core::incident::notice::{Block, Document};

static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font: {0}")]
    Font(String),
}

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const LEFT: f32 = 70.0;
const RIGHT: f32 = 60.0;
const TOP: f32 = 60.0;
const BOTTOM: f32 = 70.0;
const BODY: f32 = 10.5;
const LEADING: f32 = 14.5;
const HEADING: f32 = 12.0;
const TITLE: f32 = 14.0;

/// Characters every subset holds: printable ASCII, French letters and typography.
const BASE_CHARS: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\
    àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»’‘“”–—…•€°\u{a0}\u{202f}×";

/// A font subset ready to copy into files.
#[derive(Debug)]
struct Subset {
    /// Zlib-compressed TrueType program.
    program: Vec<u8>,
    /// Zlib-compressed ToUnicode map.
    cmap: Vec<u8>,
    /// Widths by new glyph id, in thousandths of an em.
    widths: Vec<f32>,
    /// Character → new glyph id.
    glyphs: HashMap<char, u16>,
    /// The six-letter tag of the subset's base font name.
    tag: String,
}

/// The PDF engine: a parsed font and its subsets.
#[derive(Debug)]
pub struct PdfEngine {
    /// Original glyph id and advance (font units) of every character the font has.
    cmap: HashMap<char, (u16, u16)>,
    units_per_em: f32,
    ascent: f32,
    descent: f32,
    cap_height: f32,
    bbox: Rect,
    base: Arc<Subset>,
    extra: Mutex<HashMap<String, Arc<Subset>>>,
}

/// A letter's fixed parts around its document.
#[derive(Clone, Debug, Default)]
pub struct LetterFrame {
    pub sender: Vec<String>,
    pub recipient: Vec<String>,
}

/// The creation time written in the file's metadata: (year, month 1–12, day, hour, minute).
pub type PdfTime = (i32, u8, u8, u8, u8);

impl PdfEngine {
    pub fn new() -> Result<PdfEngine, PdfError> {
        let face = ttf_parser::Face::parse(DEJAVU_SANS, 0).map_err(|e| PdfError::Font(e.to_string()))?;
        let mut cmap = HashMap::new();
        if let Some(table) = face.tables().cmap {
            for sub in table.subtables {
                if !sub.is_unicode() {
                    continue;
                }
                sub.codepoints(|cp| {
                    if let (Some(c), Some(g)) = (char::from_u32(cp), sub.glyph_index(cp)) {
                        let adv = face.glyph_hor_advance(g).unwrap_or(0);
                        cmap.entry(c).or_insert((g.0, adv));
                    }
                });
            }
        }
        let b = face.global_bounding_box();
        let upem = f32::from(face.units_per_em());
        let scale = |v: i16| f32::from(v) * 1000.0 / upem;
        let mut engine = PdfEngine {
            cmap,
            units_per_em: upem,
            ascent: scale(face.ascender()),
            descent: scale(face.descender()),
            cap_height: scale(face.capital_height().unwrap_or(face.ascender())),
            bbox: Rect::new(scale(b.x_min), scale(b.y_min), scale(b.x_max), scale(b.y_max)),
            base: Arc::new(Subset {
                program: vec![],
                cmap: vec![],
                widths: vec![],
                glyphs: HashMap::new(),
                tag: String::new(),
            }),
            extra: Mutex::new(HashMap::new()),
        };
        let base: BTreeSet<char> = BASE_CHARS.chars().collect();
        engine.base = Arc::new(engine.make_subset(&base)?);
        Ok(engine)
    }

    fn make_subset(&self, chars: &BTreeSet<char>) -> Result<Subset, PdfError> {
        let mut remapper = GlyphRemapper::new();
        let mut glyphs = HashMap::new();
        let mut pairs: Vec<(u16, char)> = Vec::new();
        for &c in chars {
            if let Some(&(g, _)) = self.cmap.get(&c) {
                let new = remapper.remap(g);
                glyphs.insert(c, new);
                pairs.push((new, c));
            }
        }
        let program = subsetter::subset(DEJAVU_SANS, 0, &remapper).map_err(|e| PdfError::Font(format!("{e:?}")))?;
        let mut widths = vec![0.0f32; usize::from(remapper.num_gids())];
        for &c in chars {
            if let (Some(&(_, adv)), Some(&new)) = (self.cmap.get(&c), glyphs.get(&c)) {
                widths[usize::from(new)] = f32::from(adv) * 1000.0 / self.units_per_em;
            }
        }
        let mut unicode = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), system_info());
        pairs.sort();
        for (g, c) in pairs {
            unicode.pair(g, c);
        }
        let cmap = unicode.finish().into_vec();
        // A subset tag (six capitals) from the character set, as PDF wants for subset fonts.
        let digest = chars.iter().fold(0xcbf29ce484222325u64, |h, c| (h ^ u64::from(*c)).wrapping_mul(0x100000001b3));
        let tag: String = (0..6).map(|i| char::from(b'A' + ((digest >> (i * 5)) % 26) as u8)).collect();
        Ok(Subset {
            program: miniz_oxide::deflate::compress_to_vec_zlib(&program, 6),
            cmap: miniz_oxide::deflate::compress_to_vec_zlib(&cmap, 6),
            widths,
            glyphs,
            tag,
        })
    }

    /// The subset that covers every character of `texts` the font has.
    fn subset_for<'s>(&self, texts: impl Iterator<Item = &'s str>) -> Result<Arc<Subset>, PdfError> {
        let mut extra: BTreeSet<char> = BTreeSet::new();
        for t in texts {
            for c in t.chars() {
                if !self.base.glyphs.contains_key(&c) && self.cmap.contains_key(&c) {
                    extra.insert(c);
                }
            }
        }
        if extra.is_empty() {
            return Ok(self.base.clone());
        }
        let key: String = extra.iter().collect();
        let mut cache = self.extra.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = cache.get(&key) {
            return Ok(s.clone());
        }
        let mut chars: BTreeSet<char> = BASE_CHARS.chars().collect();
        chars.extend(extra);
        let s = Arc::new(self.make_subset(&chars)?);
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(key, s.clone());
        Ok(s)
    }

    /// A document (the CNIL draft) as a PDF.
    pub fn document(&self, doc: &Document, created: PdfTime) -> Result<Vec<u8>, PdfError> {
        self.render(doc, None, created)
    }

    /// A letter: sender and recipient blocks (for a window envelope), then the document.
    pub fn letter(&self, frame: &LetterFrame, doc: &Document, created: PdfTime) -> Result<Vec<u8>, PdfError> {
        self.render(doc, Some(frame), created)
    }

    fn render(&self, doc: &Document, frame: Option<&LetterFrame>, created: PdfTime) -> Result<Vec<u8>, PdfError> {
        let texts = doc_texts(doc)
            .chain(frame.into_iter().flat_map(|f| f.sender.iter().chain(f.recipient.iter()).map(String::as_str)));
        let subset = self.subset_for(texts)?;
        let mut layout = Layout::new(&subset);
        match frame {
            Some(f) => {
                layout.lines_at(&f.sender, LEFT, PAGE_H - TOP, BODY, false, StructRole::P);
                layout.lines_at(&f.recipient, 300.0, PAGE_H - 150.0, BODY, false, StructRole::P);
                layout.y = PAGE_H - 270.0;
            }
            None => {
                layout.paragraph(&doc.title, TITLE, true, StructRole::H1, 0.0);
                layout.y -= 6.0;
            }
        }
        for block in &doc.blocks {
            match block {
                Block::Heading(h) => {
                    layout.y -= 8.0;
                    layout.paragraph(h, HEADING, true, StructRole::H2, 0.0);
                }
                Block::Paragraph(p) => layout.paragraph(p, BODY, false, StructRole::P, 0.0),
                Block::Bullets(items) => {
                    for i in items {
                        layout.paragraph(&format!("•\u{a0}{i}"), BODY, false, StructRole::P, 12.0);
                    }
                }
                Block::Table(rows) => {
                    for (k, v) in rows {
                        layout.table_row(k, v);
                    }
                }
            }
            layout.y -= 4.0;
        }
        Ok(self.write(&subset, layout.finish(), &doc.title, created))
    }

    fn write(&self, subset: &Subset, layout: Layout<'_>, title: &str, created: PdfTime) -> Vec<u8> {
        // Compact syntax: a campaign writes millions of these.
        let mut pdf = Pdf::with_settings(pdf_writer::Settings { pretty: false });
        let mut next = 1;
        let mut alloc = || {
            let r = Ref::new(next);
            next += 1;
            r
        };
        let catalog = alloc();
        let pages_id = alloc();
        let info = alloc();
        let tree = alloc();
        let doc_elem = alloc();
        let font = alloc();
        let cid = alloc();
        let descriptor = alloc();
        let program = alloc();
        let tounicode = alloc();
        let page_ids: Vec<Ref> = layout.pages.iter().map(|_| alloc()).collect();
        let content_ids: Vec<Ref> = layout.pages.iter().map(|_| alloc()).collect();
        let elem_ids: Vec<Ref> = layout.elements.iter().map(|_| alloc()).collect();
        let parent_ids: Vec<Ref> = layout.pages.iter().map(|_| alloc()).collect();

        let mut cat = pdf.catalog(catalog);
        cat.pages(pages_id);
        cat.lang(TextStr("fr-FR"));
        cat.pair(Name(b"StructTreeRoot"), tree);
        cat.insert(Name(b"MarkInfo")).dict().pair(Name(b"Marked"), true);
        cat.insert(Name(b"ViewerPreferences")).dict().pair(Name(b"DisplayDocTitle"), true);
        cat.finish();
        let (y, mo, d, h, mi) = created;
        pdf.document_info(info)
            .title(TextStr(title))
            .producer(TextStr("Vigie"))
            .creation_date(pdf_writer::Date::new(y.clamp(0, 9999) as u16).month(mo).day(d).hour(h).minute(mi));
        pdf.pages(pages_id).kids(page_ids.iter().copied()).count(page_ids.len() as i32);

        let base_name = format!("{}+DejaVuSans", subset.tag);
        pdf.type0_font(font)
            .base_font(Name(base_name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(tounicode);
        let mut c = pdf.cid_font(cid);
        c.subtype(CidFontType::Type2)
            .base_font(Name(base_name.as_bytes()))
            .system_info(system_info())
            .font_descriptor(descriptor)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        c.widths().consecutive(0, subset.widths.iter().copied());
        c.finish();
        pdf.font_descriptor(descriptor)
            .name(Name(base_name.as_bytes()))
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(self.bbox)
            .italic_angle(0.0)
            .ascent(self.ascent)
            .descent(self.descent)
            .cap_height(self.cap_height)
            .stem_v(80.0)
            .font_file2(program);
        pdf.stream(program, &subset.program).filter(Filter::FlateDecode);
        pdf.stream(tounicode, &subset.cmap).filter(Filter::FlateDecode);

        for (k, page) in layout.pages.iter().enumerate() {
            let mut p = pdf.page(page_ids[k]);
            p.parent(pages_id).media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H)).contents(content_ids[k]);
            p.pair(Name(b"StructParents"), k as i32);
            p.pair(Name(b"Tabs"), Name(b"S"));
            p.resources().fonts().pair(Name(b"F1"), font);
            p.finish();
            let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&page.content, 3);
            pdf.stream(content_ids[k], &compressed).filter(Filter::FlateDecode);
        }

        // The structure tree: a Document element whose children are the headings and
        // paragraphs, each pointing at its marked content on its page.
        let mut root = pdf.indirect(tree).start::<pdf_writer::writers::StructTreeRoot>();
        root.children().item(doc_elem);
        let mut parents = root.parent_tree();
        let mut nums = parents.nums();
        for (k, _) in layout.pages.iter().enumerate() {
            nums.insert(k as i32, parent_ids[k]);
        }
        nums.finish();
        parents.finish();
        root.finish();
        // Each page's marked contents, by MCID, point at their structure element.
        for (k, page) in layout.pages.iter().enumerate() {
            pdf.indirect(parent_ids[k]).array().items(page.mcid_owner.iter().map(|&e| elem_ids[e]));
        }
        let mut d = pdf.struct_element(doc_elem);
        d.kind(StructRole::Document).parent(tree);
        d.children().items(elem_ids.iter().copied());
        d.finish();
        for (e, elem) in layout.elements.iter().enumerate() {
            let mut s = pdf.struct_element(elem_ids[e]);
            s.kind(elem.role).parent(doc_elem);
            let mut kids = s.children();
            for &(page, mcid) in &elem.marks {
                kids.marked_content_ref().marked_content_id(mcid).page(page_ids[page]);
            }
            kids.finish();
            s.finish();
        }
        pdf.finish()
    }
}

fn system_info() -> SystemInfo<'static> {
    SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 }
}

fn doc_texts(doc: &Document) -> impl Iterator<Item = &str> {
    std::iter::once(doc.title.as_str()).chain(doc.blocks.iter().flat_map(|b| -> Box<dyn Iterator<Item = &str>> {
        match b {
            Block::Heading(s) | Block::Paragraph(s) => Box::new(std::iter::once(s.as_str())),
            Block::Bullets(v) => Box::new(v.iter().map(String::as_str)),
            Block::Table(rows) => Box::new(rows.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])),
        }
    }))
}

/// A structure element and where its content was marked.
struct Element {
    role: StructRole,
    /// (page, marked content id).
    marks: Vec<(usize, i32)>,
}

struct PageOut {
    content: Vec<u8>,
    /// The element each marked content id of the page belongs to.
    mcid_owner: Vec<usize>,
}

/// Lays text out line by line, opening pages as they fill.
struct Layout<'s> {
    subset: &'s Subset,
    pages: Vec<PageOut>,
    content: Content,
    mcid_owner: Vec<usize>,
    elements: Vec<Element>,
    y: f32,
    /// Whether anything was drawn on the current page.
    drawn: bool,
}

impl<'s> Layout<'s> {
    fn new(subset: &'s Subset) -> Self {
        Layout {
            subset,
            pages: Vec::new(),
            content: Content::new(),
            mcid_owner: Vec::new(),
            elements: Vec::new(),
            y: PAGE_H - TOP,
            drawn: false,
        }
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.glyph(c).1).sum::<f32>() * size / 1000.0
    }

    /// A character's new glyph id and width; characters the font lacks print as '?'.
    fn glyph(&self, c: char) -> (u16, f32) {
        let g = self.subset.glyphs.get(&c).or_else(|| self.subset.glyphs.get(&'?')).copied().unwrap_or(0);
        (g, self.subset.widths.get(usize::from(g)).copied().unwrap_or(500.0))
    }

    fn encode(&self, s: &str) -> Vec<u8> {
        s.chars().flat_map(|c| self.glyph(c).0.to_be_bytes()).collect()
    }

    fn new_page(&mut self) {
        let content = std::mem::replace(&mut self.content, Content::new()).finish().into_vec();
        self.pages.push(PageOut { content, mcid_owner: std::mem::take(&mut self.mcid_owner) });
        self.y = PAGE_H - TOP;
        self.drawn = false;
    }

    /// Closes the last page.
    fn finish(mut self) -> Self {
        if self.drawn || self.pages.is_empty() {
            self.new_page();
        }
        self
    }

    /// Starts marked content for element `e` on the current page.
    fn mark(&mut self, e: usize) {
        let mcid = self.mcid_owner.len() as i32;
        self.mcid_owner.push(e);
        let page = self.pages.len();
        self.elements[e].marks.push((page, mcid));
        let role: &[u8] = match self.elements[e].role {
            StructRole::H1 => b"H1",
            StructRole::H2 => b"H2",
            _ => b"P",
        };
        self.content.begin_marked_content_with_properties(Name(role)).properties().pair(Name(b"MCID"), mcid);
    }

    fn show_line(&mut self, text: &str, x: f32, size: f32, bold: bool) {
        self.drawn = true;
        let bytes = self.encode(text);
        self.content.begin_text();
        self.content.set_font(Name(b"F1"), size);
        if bold {
            // One font embedded, bold drawn by stroking its outlines thinly as well.
            self.content.set_text_rendering_mode(TextRenderingMode::FillStroke);
            self.content.set_line_width(size * 0.03);
        } else {
            self.content.set_text_rendering_mode(TextRenderingMode::Fill);
        }
        self.content.next_line(x, self.y);
        self.content.show(Str(&bytes));
        self.content.end_text();
    }

    /// Greedy line breaking at spaces; a word longer than a line is cut.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ') {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if self.width(&candidate, size) <= width || line.is_empty() && self.width(word, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if self.width(&piece, size) > width {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn element(&mut self, role: StructRole) -> usize {
        self.elements.push(Element { role, marks: Vec::new() });
        self.elements.len() - 1
    }

    fn paragraph(&mut self, text: &str, size: f32, bold: bool, role: StructRole, indent: f32) {
        let e = self.element(role);
        let leading = size * LEADING / BODY;
        let lines = self.wrap(text, size, PAGE_W - LEFT - RIGHT - indent);
        let mut open = false;
        for (i, line) in lines.iter().enumerate() {
            if self.y - leading < BOTTOM {
                if open {
                    self.content.end_marked_content();
                    open = false;
                }
                self.new_page();
            }
            if !open {
                self.mark(e);
                open = true;
            }
            self.y -= leading;
            // Continuation lines of a bullet align with its text.
            let x = LEFT + if i > 0 && indent > 0.0 { indent } else { 0.0 };
            self.show_line(line, x, size, bold);
        }
        if open {
            self.content.end_marked_content();
        }
    }

    fn table_row(&mut self, label: &str, value: &str) {
        let e = self.element(StructRole::P);
        // Short labels (a letter's "Objet") take their own width; long ones (the CNIL draft's)
        // a third of the line.
        let label_w = (self.width(label, BODY) * 1.08 + 14.0).min(190.0);
        let labels = self.wrap(label, BODY, label_w - 8.0);
        let values = self.wrap(value, BODY, PAGE_W - LEFT - RIGHT - label_w);
        let n = labels.len().max(values.len());
        if self.y - LEADING * (n as f32) < BOTTOM && (n as f32) * LEADING < PAGE_H - TOP - BOTTOM {
            self.new_page();
        }
        self.mark(e);
        for i in 0..n {
            if self.y - LEADING < BOTTOM {
                self.content.end_marked_content();
                self.new_page();
                self.mark(e);
            }
            self.y -= LEADING;
            if let Some(l) = labels.get(i) {
                self.show_line(l, LEFT, BODY, true);
            }
            if let Some(v) = values.get(i) {
                self.show_line(v, LEFT + label_w, BODY, false);
            }
        }
        self.content.end_marked_content();
    }

    /// Lines at a fixed place (address blocks).
    fn lines_at(&mut self, lines: &[String], x: f32, top: f32, size: f32, bold: bool, role: StructRole) {
        if lines.is_empty() {
            return;
        }
        let e = self.element(role);
        self.mark(e);
        let saved = self.y;
        self.y = top;
        for l in lines {
            self.y -= LEADING;
            self.show_line(l, x, size, bold);
        }
        self.content.end_marked_content();
        self.y = saved;
    }
}
