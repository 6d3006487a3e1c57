//! Where organizations sit and what they are called. Each kind of organization is spread over
//! the départements by population (largest remainder), placed in the département's largest
//! commune then in communes drawn by population, and serves its own département; a département without one of its
//! own is served by those of its region, or failing that by all of them.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::Data;
use crate::names::slug;

/// The sites of one kind of organization and which of them serve each département.
#[derive(Debug, Default)]
pub(crate) struct Sites {
    /// (département index, commune index) of each organization, in creation order.
    pub sites: Vec<(usize, usize)>,
    /// For each département, the indexes (into `sites`) of the organizations serving it.
    pub serving: Vec<Vec<usize>>,
}

/// Splits `n` seats over `weights` proportionally (Hamilton's largest-remainder method).
pub(crate) fn apportion(n: usize, weights: &[u64]) -> Vec<usize> {
    let total: u64 = weights.iter().sum();
    if total == 0 || weights.is_empty() {
        return vec![0; weights.len()];
    }
    let quotas: Vec<f64> = weights.iter().map(|&w| n as f64 * w as f64 / total as f64).collect();
    let mut seats: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor())).then(a.cmp(&b)));
    let given: usize = seats.iter().sum();
    for &i in order.iter().take(n.saturating_sub(given)) {
        seats[i] += 1;
    }
    seats
}

/// Places `n` organizations.
pub(crate) fn place(data: &Data, rng: &mut ChaCha8Rng, n: usize) -> Sites {
    let pops: Vec<u64> = data.depts.iter().map(|d| d.population).collect();
    let seats = apportion(n, &pops);
    let mut sites = Vec::with_capacity(n);
    for (dept, (d, &k)) in data.depts.iter().zip(&seats).enumerate() {
        // The first in the département's largest commune, the others by population.
        let largest = (d.first..d.end).max_by_key(|&i| (data.communes[i].population, std::cmp::Reverse(i)));
        for j in 0..k {
            let commune = match largest {
                Some(c) if j == 0 => c,
                _ => data.population.sample_in(rng, d.first, d.end),
            };
            sites.push((dept, commune));
        }
    }
    let serving = (0..data.depts.len())
        .map(|dept| {
            let own: Vec<usize> = (0..sites.len()).filter(|&i| sites[i].0 == dept).collect();
            if !own.is_empty() {
                return own;
            }
            let region = data.depts[dept].region;
            let near: Vec<usize> = (0..sites.len()).filter(|&i| data.depts[sites[i].0].region == region).collect();
            if near.is_empty() { (0..sites.len()).collect() } else { near }
        })
        .collect();
    Sites { sites, serving }
}

/// Disambiguates several organizations of a kind in the same city.
const DISTRICTS: [&str; 10] =
    ["", "Centre", "Nord", "Sud", "Est", "Ouest", "Gare", "République", "Les Halles", "Université"];

fn district(k: usize) -> String {
    match DISTRICTS.get(k) {
        Some(&"") => String::new(),
        Some(d) => format!(" {d}"),
        None => format!(" {}", k + 1),
    }
}

/// "Agence France Travail Lyon", "Agence France Travail Lyon Nord", …
pub(crate) fn agency_name(city: &str, k: usize) -> String {
    format!("Agence France Travail {city}{}", district(k))
}

/// "Cap emploi 69", "Cap emploi 69 Villeurbanne" for a second one in the same département.
pub(crate) fn cap_emploi_name(dept_code: &str, city: &str, k: usize) -> String {
    if k == 0 { format!("Cap emploi {dept_code}") } else { format!("Cap emploi {dept_code} {city}{}", district(k - 1)) }
}

/// "Mission locale de Grenoble", "Mission locale d'Annecy", "Mission locale du Havre".
pub(crate) fn mission_locale_name(city: &str, k: usize) -> String {
    let of = if let Some(rest) = city.strip_prefix("Le ") {
        format!("du {rest}")
    } else if let Some(rest) = city.strip_prefix("Les ") {
        format!("des {rest}")
    } else if city.starts_with(['A', 'E', 'I', 'O', 'U', 'Y', 'H', 'É', 'È', 'Î', 'Ô']) {
        format!("d'{city}")
    } else {
        format!("de {city}")
    };
    format!("Mission locale {of}{}", district(k))
}

const TRAINING_BRANDS: [&str; 10] = [
    "Aptitudes Formation",
    "Horizon Compétences",
    "Tremplin Pro",
    "Atelier des Métiers",
    "Compétences Plus",
    "Objectif Emploi Formation",
    "Cap Avenir Formation",
    "Élan Formation",
    "Institut Régional de Formation",
    "Passerelles Formation",
];

/// "AFPA Grenoble", "GRETA Isère", "Tremplin Pro Échirolles", …
pub(crate) fn training_org_name(rng: &mut ChaCha8Rng, city: &str, dept_name: &str, k: usize) -> String {
    let base = match rng.gen_range(0..100) {
        0..=34 => format!("AFPA {city}"),
        35..=59 => format!("GRETA {dept_name}"),
        _ => format!("{} {city}", TRAINING_BRANDS[rng.gen_range(0..TRAINING_BRANDS.len())]),
    };
    format!("{base}{}", district(k))
}

const SUBCONTRACTORS: [&str; 10] = [
    "Numériscan SAS",
    "Dématéria Services",
    "ArchiDoc France",
    "Saisie Express SARL",
    "DocuFlux SAS",
    "Scan & Data Conseil",
    "Numéridoc Solutions",
    "Actidoc Gestion",
    "Datatri SAS",
    "Papyrus Numérique",
];

/// Document-processing contractors: "Numériscan SAS", "Dématéria Services", …
pub(crate) fn subcontractor_name(k: usize) -> String {
    let base = SUBCONTRACTORS[k % SUBCONTRACTORS.len()];
    if k < SUBCONTRACTORS.len() { base.to_owned() } else { format!("{base} {}", k / SUBCONTRACTORS.len() + 1) }
}

/// Course titles for training sessions.
pub(crate) const TRAINING_TITLES: [&str; 20] = [
    "Titre professionnel Agent de propreté et d'hygiène",
    "CACES R489 chariots élévateurs",
    "Préparation opérationnelle à l'emploi – Logistique",
    "Développeur web et web mobile",
    "Assistant de vie aux familles",
    "Comptable assistant",
    "Soudeur TIG",
    "Cariste d'entrepôt",
    "Aide-soignant (passerelle)",
    "Français langue étrangère – A2",
    "Remise à niveau – savoirs de base",
    "Conducteur de transport en commun sur route",
    "Électricien d'équipement du bâtiment",
    "Agent magasinier",
    "Employé commercial en magasin",
    "Technicien d'assistance informatique",
    "Cuisinier",
    "Serveur en restauration",
    "Secrétaire assistant",
    "Plaquiste",
];

/// A short ASCII slug for logins and e-mail domains, at most `max` bytes, unique in `taken`.
pub(crate) fn unique_slug(text: &str, max: usize, taken: &mut std::collections::HashSet<String>) -> String {
    let mut base = slug(text);
    let room = max.saturating_sub(3);
    if base.len() > room {
        // Cut at a word boundary when that keeps a readable stem.
        let cut = base[..room].rfind('-').filter(|&i| i >= 6).unwrap_or(room);
        base.truncate(cut);
    }
    while base.ends_with('-') {
        base.pop();
    }
    if base.is_empty() {
        base.push_str("org");
    }
    let mut candidate = base.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}{n}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::data;
    use crate::rng::{Stream, rng_for};

    #[test]
    fn apportionment_gives_every_seat() {
        assert_eq!(apportion(5, &[10, 10, 0]), vec![3, 2, 0]);
        assert_eq!(apportion(3, &[1, 1, 1, 1]).iter().sum::<usize>(), 3);
        assert_eq!(apportion(2, &[]), Vec::<usize>::new());
    }

    #[test]
    fn every_departement_is_served() {
        let d = data();
        let mut rng = rng_for(1, Stream::World, 0);
        for n in [1, 2, 7, 40, 300] {
            let s = place(d, &mut rng, n);
            assert_eq!(s.sites.len(), n);
            assert!(s.serving.iter().all(|v| !v.is_empty() && v.iter().all(|&i| i < n)));
        }
        // With many agencies, the most populous département has several.
        let s = place(d, &mut rng, 300);
        let nord = d.depts.iter().position(|x| x.code == "59").unwrap();
        assert!(s.serving[nord].len() >= 5);
    }

    #[test]
    fn names_read_naturally() {
        assert_eq!(mission_locale_name("Le Havre", 0), "Mission locale du Havre");
        assert_eq!(mission_locale_name("Annecy", 0), "Mission locale d'Annecy");
        assert_eq!(mission_locale_name("Grenoble", 1), "Mission locale de Grenoble Centre");
        assert_eq!(agency_name("Lyon", 0), "Agence France Travail Lyon");
        assert_eq!(cap_emploi_name("69", "Lyon", 0), "Cap emploi 69");
        assert_eq!(subcontractor_name(0), "Numériscan SAS");
        let mut taken = Default::default();
        assert_eq!(unique_slug("ft-Saint-Étienne", 22, &mut taken), "ft-saint-etienne");
        assert_eq!(unique_slug("ft-Saint-Étienne", 22, &mut taken), "ft-saint-etienne2");
        assert_eq!(unique_slug("Agence France Travail Lyon", 22, &mut taken), "agence-france");
    }
}
