//! Country and AS of source addresses, from MaxMind DB files (GeoLite2/GeoIP2 Country or City,
//! and ASN), read with the `maxminddb` crate.
//!
//! Lookups are made for the heaviest sources of each attack only (a bounded sketch), never
//! per packet, so a spoofed flood of millions of addresses costs a thousand lookups.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::model::Tally;

/// A country or AS database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The file is not a readable MaxMind database.
    #[error("{path}: not a readable MaxMind database: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: maxminddb::MaxMindDbError,
    },
    /// The database is of another kind (a country database given as the AS one, say).
    #[error("{path}: a {found} database, where a {wanted} database was expected")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The kind it is.
        found: String,
        /// The kind wanted.
        wanted: &'static str,
    },
}

/// The databases a report was given.
#[derive(Default)]
pub struct Enricher {
    country: Option<(PathBuf, maxminddb::Reader<Vec<u8>>)>,
    asn: Option<(PathBuf, maxminddb::Reader<Vec<u8>>)>,
}

/// A database's type names the records it holds; a country lookup in an ASN database finds
/// nothing, so a mix-up is refused up front instead of showing an empty table.
fn open(
    path: &Path,
    kinds: &[&str],
    wanted: &'static str,
) -> Result<maxminddb::Reader<Vec<u8>>, EnrichError> {
    let r = maxminddb::Reader::open_readfile(path).map_err(|source| EnrichError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let t = r.metadata().database_type.clone();
    if !kinds.iter().any(|k| t.contains(k)) {
        return Err(EnrichError::WrongKind {
            path: path.to_path_buf(),
            found: t,
            wanted,
        });
    }
    Ok(r)
}

impl Enricher {
    /// Opens the country (`Country` or `City`) and AS (`ASN`) databases given.
    pub fn open(geoip: Option<&Path>, asn: Option<&Path>) -> Result<Enricher, EnrichError> {
        Ok(Enricher {
            country: geoip
                .map(|p| {
                    open(p, &["Country", "City", "Enterprise"], "country or city")
                        .map(|r| (p.to_path_buf(), r))
                })
                .transpose()?,
            asn: asn
                .map(|p| open(p, &["ASN", "ISP"], "ASN").map(|r| (p.to_path_buf(), r)))
                .transpose()?,
        })
    }

    /// Whether a country database was given.
    pub fn has_country(&self) -> bool {
        self.country.is_some()
    }

    /// Whether an AS database was given.
    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// The country database's file.
    pub fn country_path(&self) -> Option<&Path> {
        self.country.as_ref().map(|(p, _)| p.as_path())
    }

    /// The AS database's file.
    pub fn asn_path(&self) -> Option<&Path> {
        self.asn.as_ref().map(|(p, _)| p.as_path())
    }

    /// The ISO code and English name of the country of `ip`.
    pub fn country(&self, ip: IpAddr) -> Option<(String, Option<String>)> {
        let (_, r) = self.country.as_ref()?;
        let rec: maxminddb::geoip2::Country<'_> = r.lookup(ip).ok()?.decode().ok()??;
        // Where MaxMind places the address, else where its block is registered.
        let c = if rec.country.iso_code.is_some() {
            rec.country
        } else {
            rec.registered_country
        };
        Some((c.iso_code?.to_string(), c.names.english.map(str::to_string)))
    }

    /// The AS number and organisation of `ip`.
    pub fn asn(&self, ip: IpAddr) -> Option<(u32, Option<String>)> {
        let (_, r) = self.asn.as_ref()?;
        let rec: maxminddb::geoip2::Asn<'_> = r.lookup(ip).ok()?.decode().ok()??;
        Some((
            rec.autonomous_system_number?,
            rec.autonomous_system_organization.map(str::to_string),
        ))
    }

    /// Countries of `sources` (address, packets), heaviest first, with shares of `of`
    /// packets; addresses the database does not know are counted as `unknown`.
    pub fn countries(&self, sources: &[(IpAddr, u64)], of: u64) -> Option<Vec<Tally>> {
        self.country.as_ref()?;
        Some(tally(sources, of, |ip| self.country(ip)))
    }

    /// ASes of `sources`, heaviest first, as [`Enricher::countries`].
    pub fn asns(&self, sources: &[(IpAddr, u64)], of: u64) -> Option<Vec<Tally>> {
        self.asn.as_ref()?;
        Some(tally(sources, of, |ip| {
            self.asn(ip).map(|(n, org)| (format!("AS{n}"), org))
        }))
    }
}

/// Adds up packets by the name `key` gives each source.
fn tally(
    sources: &[(IpAddr, u64)],
    of: u64,
    key: impl Fn(IpAddr) -> Option<(String, Option<String>)>,
) -> Vec<Tally> {
    let mut by: HashMap<String, (Option<String>, u64)> = HashMap::new();
    for &(ip, n) in sources {
        let (name, label) = key(ip).unwrap_or_else(|| ("unknown".into(), None));
        let e = by.entry(name).or_insert((label, 0));
        e.1 += n;
    }
    let mut v: Vec<Tally> = by
        .into_iter()
        .map(|(name, (label, packets))| Tally {
            name,
            label,
            packets,
            share: packets as f64 / of.max(1) as f64,
        })
        .collect();
    v.sort_by(|a, b| b.packets.cmp(&a.packets).then_with(|| a.name.cmp(&b.name)));
    v
}

/// Crawler claims checked against the AS database (`levee_l7`'s verdicts).
impl levee_l7::crawlers::AsnLookup for Enricher {
    fn asn(&self, ip: IpAddr) -> Option<u32> {
        Enricher::asn(self, ip).map(|(n, _)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmdb(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/mmdb")
            .join(name);
        // The tests that call this run only where ../shared/data is (build/testenv.rs).
        assert!(p.is_file(), "{} is missing", p.display());
        Some(p)
    }

    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn looks_up_countries_and_ases_of_maxmind_test_databases() {
        let (Some(c), Some(a)) = (
            mmdb("GeoLite2-Country-Test.mmdb"),
            mmdb("GeoLite2-ASN-Test.mmdb"),
        ) else {
            return;
        };
        let e = Enricher::open(Some(&c), Some(&a)).unwrap();
        // From GeoLite2-Country-Test.json: 2.125.160.216/29 is GB; 50.114.0.0/22 is US.
        assert_eq!(
            e.country("2.125.160.217".parse().unwrap()),
            Some(("GB".into(), Some("United Kingdom".into())))
        );
        assert_eq!(e.country("50.114.0.1".parse().unwrap()).unwrap().0, "US");
        // From GeoLite2-ASN-Test.json: 1.128.0.0/11 is AS1221 Telstra.
        assert_eq!(
            e.asn("1.130.1.1".parse().unwrap()),
            Some((1221, Some("Telstra Pty Ltd".into())))
        );
        assert_eq!(e.asn("10.0.0.1".parse().unwrap()), None);
        let t = e
            .asns(
                &[
                    ("1.130.1.1".parse().unwrap(), 30),
                    ("1.129.0.1".parse().unwrap(), 10),
                    ("10.0.0.1".parse().unwrap(), 20),
                ],
                100,
            )
            .unwrap();
        assert_eq!(t[0].name, "AS1221");
        assert_eq!(t[0].packets, 40);
        assert!((t[0].share - 0.4).abs() < 1e-12);
        assert_eq!(t[1].name, "unknown");
    }

    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn refuses_a_database_of_the_wrong_kind_and_a_file_that_is_none() {
        let (Some(c), Some(a)) = (
            mmdb("GeoLite2-Country-Test.mmdb"),
            mmdb("GeoLite2-ASN-Test.mmdb"),
        ) else {
            return;
        };
        let e = Enricher::open(Some(&a), None).err().unwrap().to_string();
        assert!(e.contains("GeoLite2-ASN") && e.contains("country"), "{e}");
        let e = Enricher::open(None, Some(&c)).err().unwrap().to_string();
        assert!(e.contains("ASN database was expected"), "{e}");
        let json = c.with_extension("json");
        let e = Enricher::open(Some(&json), None).err().unwrap().to_string();
        assert!(e.contains("not a readable MaxMind database"), "{e}");
    }

    #[test]
    fn without_databases_there_is_nothing_to_tally() {
        let e = Enricher::default();
        assert!(e.countries(&[("1.1.1.1".parse().unwrap(), 1)], 1).is_none());
        assert!(e.asns(&[], 0).is_none());
    }
}
