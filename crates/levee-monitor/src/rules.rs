//! An attack's signature as the rule each engine applies, written by the same compilers as
//! `levee rules compile` (and proven by the same tests against the real engines), so the
//! text an incident carries can be applied as it is.

use std::collections::BTreeMap;

use levee_rules::compile::{render, Target};
use levee_rules::{Action, Lists, Rule, RulesFile};
use serde::Serialize;

/// The rules file of one blocking rule, as `levee rules` reads it.
#[derive(Serialize)]
struct OneRule<'a> {
    version: u32,
    rule: [TomlRule<'a>; 1],
}

#[derive(Serialize)]
struct TomlRule<'a> {
    id: &'a str,
    description: &'a str,
    expression: &'a str,
    action: &'a str,
}

/// The engines an incident carries a rule for, by the name it is stored under.
const ENGINES: &[(&str, Target)] = &[
    ("nftables", Target::Nftables),
    ("iptables", Target::Iptables),
    ("ipset", Target::Ipset),
    ("bpf", Target::Bpf),
    ("cloudflare", Target::Cloudflare),
];

/// The rule blocking `signature`, named `id`, for levee (`levee`: a rules file) and for each
/// engine that can express it; one that cannot is given as `# not expressible: why`. The
/// nftables table hooks `device`. Nothing when the signature does not parse.
pub fn for_engines(
    id: &str,
    description: &str,
    signature: &str,
    device: &str,
) -> BTreeMap<String, String> {
    compiled(id, description, signature, device, ENGINES)
}

/// The rule blocking a web attack's clients (`signature`: `ip.src in { ... }`), for the same
/// engines as [`for_engines`] and nginx, which serves the site.
pub fn for_web(
    id: &str,
    description: &str,
    signature: &str,
    device: &str,
) -> BTreeMap<String, String> {
    let mut engines = ENGINES.to_vec();
    engines.push(("nginx", Target::Nginx));
    compiled(id, description, signature, device, &engines)
}

fn compiled(
    id: &str,
    description: &str,
    signature: &str,
    device: &str,
    engines: &[(&str, Target)],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(expression) = levee_rules::parse_plain(signature) else {
        return out;
    };
    let file = RulesFile {
        rules: vec![Rule {
            id: id.to_string(),
            description: Some(description.to_string()),
            text: signature.to_string(),
            expression,
            action: Action::Block,
        }],
        lists: Lists::new(),
        list_files: BTreeMap::<String, String>::new(),
    };
    let toml = toml::to_string(&OneRule {
        version: 1,
        rule: [TomlRule {
            id,
            description,
            expression: signature,
            action: "block",
        }],
    })
    .expect("a rules file of strings serialises");
    out.insert("levee".to_string(), toml);
    let origin = format!("incident rule {id}");
    for &(name, target) in engines {
        let text = match render(&file, target, &origin, device) {
            Ok(t) => t,
            Err(e) => format!("# not expressible: {}\n", e.problems.join("; ")),
        };
        // ipset's output holds no set when the rule names no address list.
        if name == "ipset" && !text.lines().any(|l| l.starts_with("create ")) {
            continue;
        }
        out.insert(name.to_string(), text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_becomes_each_engines_rule() {
        let r = for_engines(
            "incident-1",
            "syn-flood on 10.10.10.10",
            "ip.dst == 10.10.10.10 and tcp.flags == 0x02 and tcp.dstport == 25565",
            "eth1",
        );
        // The levee rule reads back as a rules file.
        let back = RulesFile::parse("r", &r["levee"], None).unwrap();
        assert_eq!(back.rules[0].id, "incident-1");
        assert!(
            r["nftables"].contains("device \"eth1\""),
            "{}",
            r["nftables"]
        );
        assert!(
            r["nftables"].contains("tcp dport == 25565"),
            "{}",
            r["nftables"]
        );
        assert!(
            r["iptables"].contains("--dport 25565 -d 10.10.10.10/32"),
            "{}",
            r["iptables"]
        );
        assert!(r["bpf"].contains("ip dst host 10.10.10.10"), "{}", r["bpf"]);
        assert!(r.contains_key("cloudflare"));
        assert!(!r.contains_key("ipset"));
        assert!(for_engines("x", "y", "ip.dst ==", "eth0").is_empty());
        // A web attack's clients, for nginx too.
        let r = for_web(
            "incident-2",
            "http-flood",
            "ip.src in { 203.0.113.9 198.51.100.7 }",
            "eth0",
        );
        assert!(r["nginx"].contains("203.0.113.9"), "{}", r["nginx"]);
        assert!(r["nftables"].contains("203.0.113.9"), "{}", r["nftables"]);
    }
}
