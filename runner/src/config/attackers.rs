//! `--attackers [user@]h1,[user@]h2,...`: the hosts that run vegeta, each at its share of the rate. Local is
//! an attacker only when it is named (`local`); without the flag one local vegeta attacks, as always.

use std::fmt;

use super::PlanError;
use crate::model::LOCAL_ATTACKER;

/// One attacker host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attacker {
    /// This machine, named `local`.
    Local,
    /// A host reached over OpenSSH, as `[user@]host`.
    Remote { user: Option<String>, host: String },
}

impl Attacker {
    pub fn is_remote(&self) -> bool {
        matches!(self, Attacker::Remote { .. })
    }

    /// The host part (`local` for this machine).
    pub fn host(&self) -> &str {
        match self {
            Attacker::Local => LOCAL_ATTACKER,
            Attacker::Remote { host, .. } => host,
        }
    }
}

impl fmt::Display for Attacker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attacker::Local => f.write_str(LOCAL_ATTACKER),
            Attacker::Remote { user: Some(user), host } => write!(f, "{user}@{host}"),
            Attacker::Remote { user: None, host } => f.write_str(host),
        }
    }
}

/// The attackers as named, each once; empty when the flag is absent.
pub fn resolve_attackers(names: &[String]) -> Result<Vec<Attacker>, PlanError> {
    let mut attackers: Vec<Attacker> = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        let attacker = parse_attacker(name)?;
        if attackers.contains(&attacker) {
            return Err(PlanError::DuplicateAttacker { name: name.to_owned() });
        }
        attackers.push(attacker);
    }
    if !names.is_empty() && attackers.is_empty() {
        return Err(PlanError::BadAttacker { name: String::new(), why: "the list is empty" });
    }
    Ok(attackers)
}

/// `local`, or `[user@]host` with a host name or address ssh can be given on its command line as it is.
fn parse_attacker(name: &str) -> Result<Attacker, PlanError> {
    let bad = |why| PlanError::BadAttacker { name: name.to_owned(), why };
    if name == LOCAL_ATTACKER {
        return Ok(Attacker::Local);
    }
    let (user, host) = match name.split_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, name),
    };
    let host = host.trim_matches(['[', ']']);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.starts_with('-') || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_')) {
        return Err(bad("a host is a name or an address (letters, digits, '.', '-', ':')"));
    }
    if let Some(user) = user
        && (user.is_empty()
            || user.starts_with('-')
            || !user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(bad("a user is letters, digits, '.', '-' or '_'"));
    }
    Ok(Attacker::Remote { user: user.map(str::to_owned), host: host.to_owned() })
}

/// Each attacker's share of `rate`: the rate split evenly, the remainder spread one request per second
/// over the first attackers, so the shares add up to the rate exactly.
pub fn shares(rate: u32, attackers: usize) -> Vec<u32> {
    let count = u32::try_from(attackers.max(1)).unwrap_or(u32::MAX);
    let (each, remainder) = (rate / count, rate % count);
    (0..count).map(|i| each + u32::from(i < remainder)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn shares_add_up_to_the_rate_and_differ_by_at_most_one() {
        assert_eq!(shares(1000, 2), [500, 500]);
        assert_eq!(shares(1001, 3), [334, 334, 333]);
        assert_eq!(shares(7, 1), [7]);
        for (rate, count) in [(1, 1), (10, 3), (12_345, 7), (5, 5)] {
            let split = shares(rate, count);
            assert_eq!(split.iter().sum::<u32>(), rate);
            assert_eq!(split.len(), count);
            assert!(split.iter().max().unwrap_or(&0) - split.iter().min().unwrap_or(&0) <= 1, "{split:?}");
        }
    }

    #[test]
    fn attackers_are_local_or_user_at_host() {
        let parsed = resolve_attackers(&names(&["local", "bench@198.18.0.2", "h2"])).expect("valid");
        assert_eq!(
            parsed,
            [
                Attacker::Local,
                Attacker::Remote { user: Some("bench".to_owned()), host: "198.18.0.2".to_owned() },
                Attacker::Remote { user: None, host: "h2".to_owned() },
            ]
        );
        assert_eq!(parsed[1].to_string(), "bench@198.18.0.2");
        assert!(resolve_attackers(&[]).expect("absent").is_empty());
    }

    #[test]
    fn names_ssh_could_misread_are_refused() {
        for bad in ["-oProxyCommand=x", "a b", "user@", "@host", "h;rm", "$(x)", ""] {
            let refused = resolve_attackers(&names(&[bad]));
            assert!(matches!(refused, Err(PlanError::BadAttacker { .. })), "{bad:?}: {refused:?}");
        }
        let twice = resolve_attackers(&names(&["h1", "h1"]));
        assert!(matches!(twice, Err(PlanError::DuplicateAttacker { .. })), "{twice:?}");
    }
}
