//! Letters and drafts as PDF readers see them: text extracted by poppler's `pdftotext` (an
//! independent reader), the font embedded as a subset (`pdffonts`), one page for a letter.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::process::Command;

use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::ids::{AgentId, IncidentId, PersonId};
use vigie_core::incident::notice::{Controller, Recipient, letter};
use vigie_core::incident::scope::Exposed;
use vigie_core::incident::{Author, Incident, IncidentState, Selector, Window};
use vigie_core::person::Sex;
use vigie_core::time::Timestamp;
use vigie_notify::{LetterFrame, PdfEngine};

fn incident() -> Incident {
    Incident {
        id: IncidentId::new(4).unwrap(),
        title: "Compte compromis".into(),
        opened_at: Timestamp(1_767_000_000_000),
        opened_by: Author::Operator,
        awareness_at: Timestamp(1_767_000_000_000),
        window: Window::new(Timestamp(1_766_000_000_000), Timestamp(1_767_000_000_000)).unwrap(),
        selectors: vec![Selector::Agent(AgentId::new(9).unwrap())],
        alert: None,
        state: IncidentState::Open,
        closed_at: None,
    }
}

fn controller() -> Controller {
    Controller {
        name: "France Travail".into(),
        address: vec!["1 avenue du Docteur Gley".into(), "75020 Paris".into()],
        dpo_name: "Déléguée à la protection des données".into(),
        dpo_email: "dpo@example.invalid".into(),
        signatory: "La déléguée à la protection des données".into(),
        ..Controller::default()
    }
}

fn recipient(last: &str) -> Recipient {
    Recipient {
        person: PersonId::new(77).unwrap(),
        sex: Sex::Male,
        first_name: "Łukasz".into(),
        last_name: last.into(),
        street: "12 rue de l'Église".into(),
        postcode: "69001".into(),
        commune: "Lyon".into(),
        email: None,
    }
}

fn exposed(c: CategorySet) -> Exposed {
    Exposed {
        person: PersonId::new(77).unwrap(),
        records: vec![(PersonId::new(77).unwrap(), c)],
        categories: c,
        first: Timestamp(1_766_500_000_000),
        last: Timestamp(1_766_600_000_000),
        entries: 1,
        agents: vec![],
        sessions: vec![],
    }
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

#[test]
fn a_letter_reads_back_as_french_text_with_its_font_embedded() {
    assert!(tool("pdftotext"), "poppler-utils (pdftotext, pdffonts) is needed: .ci/run installs it");
    let engine = PdfEngine::new().unwrap();
    let c: CategorySet = [DataCategory::Identity, DataCategory::Nir].into_iter().collect();
    let r = recipient("Nowak-Dąbrowski");
    let doc = letter(&incident(), &exposed(c), &r, &controller(), Timestamp(1_767_100_000_000));
    let frame = LetterFrame { sender: vec!["France Travail".into()], recipient: r.address_lines() };
    let pdf = engine.letter(&frame, &doc, (2026, 12, 30, 10, 0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = String::from_utf8(Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap().stdout)
        .unwrap();
    for needle in [
        "Monsieur Łukasz Nowak-Dąbrowski",
        "12 rue de l'Église",
        "Monsieur Nowak-Dąbrowski,",
        "votre numéro de sécurité sociale (NIR)",
        "I4-P77",
        "Ce que vous pouvez faire",
        "dpo@example.invalid",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the extracted text:\n{text}");
    }
    let fonts = String::from_utf8(Command::new("pdffonts").arg(&path).output().unwrap().stdout).unwrap();
    let line = fonts.lines().find(|l| l.contains("DejaVuSans")).unwrap_or_else(|| panic!("{fonts}"));
    // name+subset tag, CID TrueType, embedded yes, subset yes, unicode map yes.
    assert!(line.contains("CID TrueType") && line.matches("yes").count() == 3, "{fonts}");
    let info = String::from_utf8(Command::new("pdfinfo").arg(&path).output().unwrap().stdout).unwrap();
    // A letter is a sheet, recto-verso at most, at a readable size (10.5 pt).
    let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!(pages <= 2, "{pages} pages:\n{info}");
    assert!(info.lines().any(|l| l.starts_with("Tagged:") && l.ends_with("yes")), "{info}");
    // The standard subset serves most letters; this one needed Ł and ą besides: still small
    // (the font, unhinted, is most of it; 1.6 million letters must fit on a disk).
    assert!(pdf.len() < 24_000, "{} bytes", pdf.len());
}

#[test]
fn a_long_document_breaks_into_pages_and_keeps_every_paragraph() {
    let engine = PdfEngine::new().unwrap();
    let mut doc = letter(
        &incident(),
        &exposed(CategorySet::ALL),
        &recipient("Martin"),
        &controller(),
        Timestamp(1_767_100_000_000),
    );
    for i in 0..80 {
        doc.blocks.push(vigie_core::incident::notice::Block::Paragraph(format!(
            "Paragraphe numéro {i} : {}",
            "texte ".repeat(30)
        )));
    }
    let pdf = engine.document(&doc, (2026, 12, 30, 10, 0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = String::from_utf8(Command::new("pdftotext").arg(&path).arg("-").output().unwrap().stdout).unwrap();
    for i in [0, 40, 79] {
        assert!(text.contains(&format!("Paragraphe numéro {i} :")), "paragraph {i} lost");
    }
    let info = String::from_utf8(Command::new("pdfinfo").arg(&path).output().unwrap().stdout).unwrap();
    let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!(pages >= 4, "{pages} pages");
}

#[test]
#[ignore = "writes a sample letter to /tmp for a person to look at"]
fn sample_letter() {
    let engine = PdfEngine::new().unwrap();
    let c: CategorySet = [DataCategory::Identity, DataCategory::Nir, DataCategory::Contact].into_iter().collect();
    let r = recipient("Nowak-Dąbrowski");
    let doc = letter(&incident(), &exposed(c), &r, &controller(), Timestamp(1_767_100_000_000));
    let frame = LetterFrame {
        sender: vec!["France Travail".into(), "1 avenue du Docteur Gley".into(), "75020 Paris".into()],
        recipient: r.address_lines(),
    };
    std::fs::write("/tmp/vigie-letter.pdf", engine.letter(&frame, &doc, (2026, 12, 30, 10, 0)).unwrap()).unwrap();
}
