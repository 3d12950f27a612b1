//! Named address lists (`$name` in expressions), loaded from files of one address or prefix per
//! line. `#` starts a comment; blank lines are skipped.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::ListError;

/// Lists by name.
#[derive(Debug, Default, Clone)]
pub struct Lists {
    lists: BTreeMap<String, Vec<IpNet>>,
}

impl Lists {
    /// No list.
    pub fn new() -> Lists {
        Lists::default()
    }

    /// The prefixes of a list, by name (without `$`).
    pub fn get(&self, name: &str) -> Option<&[IpNet]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// Adds (or replaces) a list.
    pub fn insert(&mut self, name: impl Into<String>, nets: Vec<IpNet>) {
        self.lists.insert(name.into(), nets);
    }

    /// The lists' names, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lists.keys().map(String::as_str)
    }

    /// Parses list text; `origin` names it in errors (usually the file name).
    pub fn parse_text(origin: &str, text: &str) -> Result<Vec<IpNet>, ListError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let net = if entry.contains('/') {
                entry.parse::<IpNet>().map(|n| n.trunc()).ok()
            } else {
                entry.parse::<IpAddr>().ok().map(IpNet::from)
            };
            match net {
                Some(n) => out.push(n),
                None => {
                    return Err(ListError::BadEntry {
                        origin: origin.to_string(),
                        line: i + 1,
                        entry: entry.to_string(),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Loads a list file under `name`.
    pub fn load(&mut self, name: &str, path: &Path) -> Result<(), ListError> {
        let text = std::fs::read_to_string(path).map_err(|source| ListError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let nets = Lists::parse_text(&path.display().to_string(), &text)?;
        self.insert(name, nets);
        Ok(())
    }
}
