//! The libp2p identity is the validator's ed25519 key, so a [`PeerId`] *is* a validator.

use std::collections::HashMap;

use bftledger_crypto::{PublicKey, SecretKey};
use libp2p::{identity, PeerId};

/// The libp2p keypair of a validator key (same ed25519 seed, same public key).
pub fn keypair_of(key: &SecretKey) -> identity::Keypair {
    let mut seed = key.to_bytes();
    // `ed25519_from_bytes` zeroizes the buffer it is given; `seed` is zeroized on drop too.
    identity::Keypair::ed25519_from_bytes(&mut seed[..])
        .expect("a 32-byte ed25519 seed is always a valid libp2p secret key")
}

/// The peer id of a validator public key.
pub fn peer_id_of(key: &PublicKey) -> PeerId {
    let ed = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .expect("a strictly checked ed25519 key is a valid libp2p ed25519 key");
    identity::PublicKey::from(ed).to_peer_id()
}

/// The validator set, indexed by peer id.
#[derive(Clone, Debug, Default)]
pub struct ValidatorSet {
    by_peer: HashMap<PeerId, PublicKey>,
}

impl ValidatorSet {
    /// Indexes `validators` by peer id.
    pub fn new(validators: &[PublicKey]) -> ValidatorSet {
        ValidatorSet {
            by_peer: validators.iter().map(|k| (peer_id_of(k), *k)).collect(),
        }
    }

    /// The validator key of `peer`, or `None` if `peer` is not a validator.
    pub fn key_of(&self, peer: &PeerId) -> Option<PublicKey> {
        self.by_peer.get(peer).copied()
    }

    /// True if `peer` is a validator.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.by_peer.contains_key(peer)
    }

    /// All validator peer ids.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.by_peer.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypair_and_peer_id_agree_with_the_validator_key() {
        let key = SecretKey::generate();
        let keypair = keypair_of(&key);
        assert_eq!(keypair.public().to_peer_id(), peer_id_of(&key.public()));
        let ed = keypair.public().try_into_ed25519().unwrap();
        assert_eq!(&ed.to_bytes(), key.public().as_bytes());
    }

    #[test]
    fn validator_set_maps_peer_ids_back_to_keys() {
        let keys: Vec<PublicKey> = (0..4).map(|_| SecretKey::generate().public()).collect();
        let set = ValidatorSet::new(&keys);
        for k in &keys {
            assert_eq!(set.key_of(&peer_id_of(k)), Some(*k));
        }
        let outsider = SecretKey::generate().public();
        assert!(!set.contains(&peer_id_of(&outsider)));
    }
}
