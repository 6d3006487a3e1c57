//! Checkpoints and signed notes (`vigie_ledger::note`), the keys' text forms, and a witness
//! directory's `checkpoints` history (`parse_history`): what a start-up and `vigie ledger verify`
//! read from the ledger's directory and from witnesses, which other parties hold.
//!
//! Input: `mode | text`. Mode bit 0 signs the text with the ledger's key before opening it, so
//! that the checkpoint's own lines (origin, size, root) are parsed past the signature check, which
//! a mutation never passes otherwise. Properties: nothing panics; an opened checkpoint re-signs to
//! a note that opens to the same checkpoint; a key that parses prints back to an equal key.

use vigie_ledger::note::{Checkpoint, NoteSigner, NoteVerifier};

use crate::targets::ledger::signer;

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let signer = signer();
    let verifier = signer.verifier();
    let note = if mode & 1 != 0 && text.ends_with('\n') { signer.sign(&text) } else { text.to_string() };

    let _ = verifier.open(&note);
    open_checkpoint(&note, &signer, &verifier);
    for past in vigie_ledger::parse_history(&note) {
        open_checkpoint(past, &signer, &verifier);
    }
    if let Ok(v) = NoteVerifier::parse(&text) {
        assert_eq!(NoteVerifier::parse(&v.to_string()), Ok(v.clone()), "a verifier key prints to itself");
        let _ = Checkpoint::open(&note, &v);
    }
    if let Ok(s) = NoteSigner::parse(&text) {
        let again = NoteSigner::parse(&s.to_skey()).expect("a signer key prints to a key that parses");
        assert_eq!(again.verifier(), s.verifier());
    }
}

fn open_checkpoint(note: &str, signer: &NoteSigner, verifier: &NoteVerifier) {
    if let Ok(checkpoint) = Checkpoint::open(note, verifier) {
        assert_eq!(checkpoint.origin, verifier.name());
        let resigned = checkpoint.sign(signer);
        assert_eq!(Checkpoint::open(&resigned, verifier).as_ref(), Ok(&checkpoint), "a checkpoint re-signs to itself");
    }
}
