//! Data categories: every field of a person's record belongs to exactly one, and authorization is
//! decided per category (one Cedar action each), so a record leaves with only the permitted ones.

use std::fmt;
use std::str::FromStr;

/// The five categories of a person's data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum DataCategory {
    /// France Travail id, names, birth date and place, sex.
    Identity,
    /// The social security number: a specially protected identifier.
    Nir,
    /// Email, phone, postal address.
    Contact,
    /// Registration status and dates, youth flag.
    Status,
    /// Disability recognition (RQTH): special-category data (GDPR Art. 9).
    Sensitive,
}

impl DataCategory {
    pub const ALL: [DataCategory; 5] = [
        DataCategory::Identity,
        DataCategory::Nir,
        DataCategory::Contact,
        DataCategory::Status,
        DataCategory::Sensitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Identity => "identity",
            DataCategory::Nir => "nir",
            DataCategory::Contact => "contact",
            DataCategory::Status => "status",
            DataCategory::Sensitive => "sensitive",
        }
    }

    /// The Cedar action that permits reading this category.
    pub fn action(self) -> &'static str {
        match self {
            DataCategory::Identity => "readIdentity",
            DataCategory::Nir => "readNir",
            DataCategory::Contact => "readContact",
            DataCategory::Status => "readStatus",
            DataCategory::Sensitive => "readSensitive",
        }
    }

    /// The Cedar action that permits putting this category in a bulk extract.
    pub fn extract_action(self) -> &'static str {
        match self {
            DataCategory::Identity => "extractIdentity",
            DataCategory::Nir => "extractNir",
            DataCategory::Contact => "extractContact",
            DataCategory::Status => "extractStatus",
            DataCategory::Sensitive => "extractSensitive",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl FromStr for DataCategory {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataCategory::ALL.into_iter().find(|c| c.as_str() == s).ok_or(UnknownCategory)
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data category (expected identity, nir, contact, status or sensitive)")]
pub struct UnknownCategory;

/// A set of categories, as a bit mask (the ledger stores exactly this byte).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    pub const EMPTY: CategorySet = CategorySet(0);
    pub const ALL: CategorySet = CategorySet(0b1_1111);

    pub fn from_bits(bits: u8) -> Option<Self> {
        (bits & !Self::ALL.0 == 0).then_some(CategorySet(bits))
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    pub fn contains(self, c: DataCategory) -> bool {
        self.0 & c.bit() != 0
    }
    pub fn insert(&mut self, c: DataCategory) {
        self.0 |= c.bit();
    }
    pub fn with(mut self, c: DataCategory) -> Self {
        self.insert(c);
        self
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = DataCategory> {
        DataCategory::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<DataCategory> for CategorySet {
    fn from_iter<I: IntoIterator<Item = DataCategory>>(iter: I) -> Self {
        let mut s = CategorySet::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(DataCategory::as_str)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip_through_bits() {
        let s: CategorySet = [DataCategory::Identity, DataCategory::Sensitive].into_iter().collect();
        assert_eq!(CategorySet::from_bits(s.bits()), Some(s));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![DataCategory::Identity, DataCategory::Sensitive]);
        assert!(CategorySet::from_bits(0b10_0000).is_none());
        assert_eq!("nir".parse::<DataCategory>(), Ok(DataCategory::Nir));
        assert!("NIR".parse::<DataCategory>().is_err());
    }
}
