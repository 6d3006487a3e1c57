//! A data subject's record, and which category each of its fields belongs to.

use crate::category::{CategorySet, DataCategory};
use crate::ids::{FtId, PersonId};
use crate::nir::Nir;

/// Sex as recorded in the registry (consistent with the NIR's first digit).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "M" => Some(Sex::Male),
            "F" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// Registration status at France Travail.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RegistrationStatus {
    /// Currently registered as a job seeker.
    Registered,
    /// Struck off the list (radié) or left.
    Deregistered,
    /// Known to the agency (e.g. a candidate with an online account) but never registered.
    Identified,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Registered => "registered",
            RegistrationStatus::Deregistered => "deregistered",
            RegistrationStatus::Identified => "identified",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "registered" => Some(Self::Registered),
            "deregistered" => Some(Self::Deregistered),
            "identified" => Some(Self::Identified),
            _ => None,
        }
    }
}

/// Where a person was born: an INSEE commune code (or `99` + country code) and its name.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BirthPlace {
    pub code: String,
    pub name: String,
}

/// A postal address in France.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Address {
    pub street: String,
    pub postcode: String,
    pub commune: String,
    /// INSEE code of the commune of residence.
    pub commune_code: String,
}

/// A person's full record as the registry holds it. Only the guard turns it into a response,
/// and only with the categories authorization permitted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Person {
    pub id: PersonId,
    // identity
    pub ft_id: FtId,
    pub last_name: String,
    pub first_name: String,
    pub birth_date: time::Date,
    pub birth_place: BirthPlace,
    pub sex: Sex,
    // nir
    pub nir: Nir,
    // contact
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
    // status
    pub status: RegistrationStatus,
    pub registered_on: time::Date,
    pub deregistered_on: Option<time::Date>,
    pub youth: bool,
    // sensitive
    pub rqth: bool,
}

/// The fields of a person's record, each tied to its category. The API's field names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    FtId,
    LastName,
    FirstName,
    BirthDate,
    BirthPlace,
    Sex,
    Nir,
    Email,
    Phone,
    Address,
    Status,
    RegisteredOn,
    DeregisteredOn,
    Youth,
    Rqth,
}

impl Field {
    pub const ALL: [Field; 15] = [
        Field::FtId,
        Field::LastName,
        Field::FirstName,
        Field::BirthDate,
        Field::BirthPlace,
        Field::Sex,
        Field::Nir,
        Field::Email,
        Field::Phone,
        Field::Address,
        Field::Status,
        Field::RegisteredOn,
        Field::DeregisteredOn,
        Field::Youth,
        Field::Rqth,
    ];

    /// The single category each field belongs to. Adding a field means choosing its category here;
    /// the match is exhaustive so none can be forgotten.
    pub fn category(self) -> DataCategory {
        match self {
            Field::FtId | Field::LastName | Field::FirstName | Field::BirthDate | Field::BirthPlace | Field::Sex => {
                DataCategory::Identity
            }
            Field::Nir => DataCategory::Nir,
            Field::Email | Field::Phone | Field::Address => DataCategory::Contact,
            Field::Status | Field::RegisteredOn | Field::DeregisteredOn | Field::Youth => DataCategory::Status,
            Field::Rqth => DataCategory::Sensitive,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::FtId => "ft_id",
            Field::LastName => "last_name",
            Field::FirstName => "first_name",
            Field::BirthDate => "birth_date",
            Field::BirthPlace => "birth_place",
            Field::Sex => "sex",
            Field::Nir => "nir",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Status => "status",
            Field::RegisteredOn => "registered_on",
            Field::DeregisteredOn => "deregistered_on",
            Field::Youth => "youth",
            Field::Rqth => "rqth",
        }
    }
}

/// A record cut down to the permitted categories: the only shape of a person that leaves Vigie.
/// Fields of a category not permitted are `None`, whatever their value in the registry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FilteredRecord {
    pub id: PersonId,
    pub categories: CategorySet,
    pub identity: Option<IdentityPart>,
    pub nir: Option<Nir>,
    pub contact: Option<ContactPart>,
    pub status: Option<StatusPart>,
    pub sensitive: Option<SensitivePart>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdentityPart {
    pub ft_id: FtId,
    pub last_name: String,
    pub first_name: String,
    pub birth_date: time::Date,
    pub birth_place: BirthPlace,
    pub sex: Sex,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContactPart {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatusPart {
    pub status: RegistrationStatus,
    pub registered_on: time::Date,
    pub deregistered_on: Option<time::Date>,
    pub youth: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SensitivePart {
    pub rqth: bool,
}

impl Person {
    /// Keeps only the permitted categories. Consumes the record so the unfiltered one cannot be
    /// used by mistake afterwards.
    pub fn filter(self, allowed: CategorySet) -> FilteredRecord {
        let Person {
            id,
            ft_id,
            last_name,
            first_name,
            birth_date,
            birth_place,
            sex,
            nir,
            email,
            phone,
            address,
            status,
            registered_on,
            deregistered_on,
            youth,
            rqth,
        } = self;
        FilteredRecord {
            id,
            categories: allowed,
            identity: allowed.contains(DataCategory::Identity).then_some(IdentityPart {
                ft_id,
                last_name,
                first_name,
                birth_date,
                birth_place,
                sex,
            }),
            nir: allowed.contains(DataCategory::Nir).then_some(nir),
            contact: allowed.contains(DataCategory::Contact).then_some(ContactPart { email, phone, address }),
            status: allowed.contains(DataCategory::Status).then_some(StatusPart {
                status,
                registered_on,
                deregistered_on,
                youth,
            }),
            sensitive: allowed.contains(DataCategory::Sensitive).then_some(SensitivePart { rqth }),
        }
    }
}

/// The minimal line shown for a person in one's scope list (identity names only).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScopeEntry {
    pub id: PersonId,
    pub last_name: String,
    pub first_name: String,
    pub relationship: crate::relationship::RelationshipKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_one_category_and_every_category_has_fields() {
        for c in DataCategory::ALL {
            assert!(Field::ALL.iter().any(|f| f.category() == c), "{c} has no field");
        }
        let names: std::collections::HashSet<_> = Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Field::ALL.len());
    }
}
