//! The routing value of several nodes behind a load balancer (ARCHITECTURE.md, "PostgreSQL and
//! several nodes"): an agent's key group, `hash(agent) mod` [`KEY_GROUPS`], the unit that a
//! node owns and that moves between nodes, and the value a node hands out at sign-in for the
//! load balancer to hash on (`Vigie-Route: 0a3.1f2e…`), signed with the cluster's key so that
//! a node can tell a value it issued from one a client made up.
//!
//! The value only makes the right node likely. Which detector state judges a read follows from
//! the *session's agent* ([`key_group`]), never from the value a client sends: editing it, or
//! spreading a stolen session's requests over the nodes, reaches the same key group. Pure: the
//! key comes in as an argument.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::ids::AgentId;

/// Key groups in a cluster (Flink's max parallelism): fixed, so that an agent's group never
/// changes; nodes own whole groups.
pub const KEY_GROUPS: u16 = 4096;

/// Bytes of the HMAC kept in the value (128 bits).
const MAC_LEN: usize = 16;

/// The key group of `agent`: the first two bytes of SHA-256 of a label and its id, modulo
/// [`KEY_GROUPS`]. Stable across versions and nodes (a change would move every agent).
pub fn key_group(agent: AgentId) -> u16 {
    let digest =
        Sha256::new().chain_update(b"vigie/key-group/1\0").chain_update(agent.as_i64().to_be_bytes()).finalize();
    u16::from_be_bytes([digest[0], digest[1]]) % KEY_GROUPS
}

/// The routing value for `agent`: `<key group, 3 hex digits>.<HMAC-SHA256 of it, 32 hex digits>`.
pub fn issue(agent: AgentId, key: &[u8; 32]) -> String {
    let group = format!("{:03x}", key_group(agent));
    format!("{group}.{}", hex::encode(&mac(key, &group)[..MAC_LEN]))
}

/// The key group a routing value names, if this cluster's key signed it.
pub fn verify(value: &str, key: &[u8; 32]) -> Option<u16> {
    let (group, tag) = value.split_once('.')?;
    if group.len() != 3 || tag.len() != 2 * MAC_LEN {
        return None;
    }
    let n = u16::from_str_radix(group, 16).ok().filter(|n| *n < KEY_GROUPS)?;
    let tag = hex::decode(tag).ok()?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    m.update(b"vigie/route/1\0");
    m.update(group.as_bytes());
    m.verify_truncated_left(&tag).ok()?;
    Some(n)
}

fn mac(key: &[u8; 32], group: &str) -> [u8; 32] {
    // A 32-byte key is always accepted by HMAC.
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    m.update(b"vigie/route/1\0");
    m.update(group.as_bytes());
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: u64) -> AgentId {
        AgentId::new(n).unwrap()
    }

    #[test]
    fn a_value_verifies_under_its_key_only_and_names_the_agents_group() {
        let key = [7u8; 32];
        let v = issue(agent(42), &key);
        assert_eq!(verify(&v, &key), Some(key_group(agent(42))));
        assert_eq!(verify(&v, &[8u8; 32]), None, "another cluster's key");
        // A client that edits the group to reach another node: refused.
        let other = format!("{:03x}{}", (key_group(agent(42)) + 1) % KEY_GROUPS, &v[3..]);
        assert_eq!(verify(&other, &key), None);
        for bad in ["", ".", "0a3", "0a3.", "zzz.00000000000000000000000000000000", &v[..v.len() - 2], "fff.x"] {
            assert_eq!(verify(bad, &key), None, "{bad:?}");
        }
    }

    #[test]
    fn key_groups_are_stable_and_spread() {
        // Fixed: a change would move every agent to another node.
        assert_eq!(key_group(agent(1)), key_group(agent(1)));
        let mut counts = vec![0u32; usize::from(KEY_GROUPS)];
        for n in 1..=200_000u64 {
            counts[usize::from(key_group(agent(n)))] += 1;
        }
        let (min, max) = (counts.iter().min().copied().unwrap(), counts.iter().max().copied().unwrap());
        // 200 000 agents over 4 096 groups: about 49 each.
        assert!(min >= 15 && max <= 100, "min {min} max {max}");
    }
}
