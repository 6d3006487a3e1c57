//! The columns of an extract and a row's CSV (RFC 4180: comma-separated, `"` quoting, CRLF).
//!
//! The first column is always `ref`, the row's pseudonym. The others follow the record's fields
//! ([`vigie_core::person::Field`]) of the permitted categories only; `ft_id` only where the
//! purpose needs the real identifier (a Cedar decision), the address split into its parts.

use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::person::{Field, Person};
use vigie_core::time::format_date;

/// A column of the file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Column {
    Ref,
    Field(Field),
    Street,
    Postcode,
    Commune,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::Ref => "ref",
            Column::Field(f) => f.name(),
            Column::Street => "street",
            Column::Postcode => "postcode",
            Column::Commune => "commune",
        }
    }

    /// Columns that identify a person by a key rather than describe them.
    pub fn is_identifier(self) -> bool {
        matches!(self, Column::Ref | Column::Field(Field::FtId) | Column::Field(Field::Nir))
    }
}

/// The columns for `categories`, with the real France Travail id or not.
pub fn columns(categories: CategorySet, real_ids: bool) -> Vec<Column> {
    let mut out = vec![Column::Ref];
    for f in Field::ALL {
        if !categories.contains(f.category()) || (f == Field::FtId && !real_ids) {
            continue;
        }
        if f == Field::Address {
            out.extend([Column::Street, Column::Postcode, Column::Commune]);
        } else {
            out.push(Column::Field(f));
        }
    }
    out
}

/// The header line.
pub fn header(cols: &[Column], out: &mut Vec<u8>) {
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(c.name().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// One row: `reference` is the row's pseudonym.
pub fn row(cols: &[Column], person: &Person, reference: &[u8], out: &mut Vec<u8>) {
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match c {
            Column::Ref => out.extend_from_slice(reference),
            Column::Street => cell(&person.address.street, out),
            Column::Postcode => cell(&person.address.postcode, out),
            Column::Commune => cell(&person.address.commune, out),
            Column::Field(f) => match f {
                Field::FtId => cell(person.ft_id.as_str(), out),
                Field::LastName => cell(&person.last_name, out),
                Field::FirstName => cell(&person.first_name, out),
                Field::BirthDate => cell(&format_date(person.birth_date), out),
                Field::BirthPlace => cell(&person.birth_place.name, out),
                Field::Sex => cell(person.sex.as_str(), out),
                Field::Nir => cell(person.nir.as_str(), out),
                Field::Email => cell(person.email.as_deref().unwrap_or(""), out),
                Field::Phone => cell(person.phone.as_deref().unwrap_or(""), out),
                Field::Address => cell(&person.address.street, out),
                Field::Status => cell(person.status.as_str(), out),
                Field::RegisteredOn => cell(&format_date(person.registered_on), out),
                Field::DeregisteredOn => cell(&person.deregistered_on.map(format_date).unwrap_or_default(), out),
                Field::Youth => cell(if person.youth { "1" } else { "0" }, out),
                Field::Rqth => cell(if person.rqth { "1" } else { "0" }, out),
            },
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn cell(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// The categories a set of columns shows (for the manifest).
pub fn categories_of(cols: &[Column]) -> CategorySet {
    let mut set = CategorySet::EMPTY;
    for c in cols {
        match c {
            Column::Ref => {}
            Column::Street | Column::Postcode | Column::Commune => set.insert(DataCategory::Contact),
            Column::Field(f) => set.insert(f.category()),
        }
    }
    set
}
