//! The ticket cipher of [`TicketKeys`](super::TicketKeys): HKDF-SHA256 and AES-256-GCM from the
//! crate of the selected crypto provider (aws-lc-rs, else ring).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs as crypto;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring as crypto;

use crypto::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use crypto::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use crypto::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

use super::TicketKeyError;

const VERSION: u8 = 1;
const ID_LEN: usize = 8;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = 1 + ID_LEN + SALT_LEN;
const TAG_LEN: usize = 16;
const ISSUED_LEN: usize = 8;
/// How far in the future a ticket's issue time may be (clocks of replicas differ a little).
const CLOCK_SKEW: u64 = 60;

/// An HKDF output length.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The ticketer of one host: each shared key, bound to the host's trust state.
struct HostTicketer {
    /// (key id, ticket key), the encrypting key first.
    keys: Vec<([u8; ID_LEN], Prk)>,
    lifetime: Duration,
    rng: SystemRandom,
}

impl fmt::Debug for HostTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostTicketer")
            .field("keys", &self.keys.len())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

pub(super) fn ticketer(
    keys: &[Arc<[u8]>],
    binding: &[u8],
    lifetime: Duration,
) -> Result<Arc<dyn ProducesTickets>, TicketKeyError> {
    Ok(Arc::new(HostTicketer::new(keys, binding, lifetime)?))
}

impl HostTicketer {
    fn new(keys: &[Arc<[u8]>], binding: &[u8], lifetime: Duration) -> Result<Self, TicketKeyError> {
        let salt = Salt::new(HKDF_SHA256, b"mtls session tickets v1");
        let mut derived = Vec::with_capacity(keys.len());
        for key in keys {
            let prk = salt.extract(key);
            let mut id = [0u8; ID_LEN];
            prk.expand(&[b"key id", binding], Len(ID_LEN))
                .and_then(|okm| okm.fill(&mut id))
                .map_err(|_| TicketKeyError::NoCrypto)?;
            let ticket_key = prk
                .expand(&[b"ticket key", binding], HKDF_SHA256)
                .map(Prk::from)
                .map_err(|_| TicketKeyError::NoCrypto)?;
            derived.push((id, ticket_key));
        }
        Ok(Self {
            keys: derived,
            lifetime,
            rng: SystemRandom::new(),
        })
    }
}

pub(super) fn random<const N: usize>() -> Option<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).ok()?;
    Some(out)
}

pub(super) fn digest(input: &[u8]) -> Option<Vec<u8>> {
    Some(
        crypto::digest::digest(&crypto::digest::SHA256, input)
            .as_ref()
            .to_vec(),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The AEAD key of one ticket: expanded from the host's ticket key and the ticket's salt.
fn ticket_cipher(key: &Prk, salt: &[u8]) -> Option<LessSafeKey> {
    let info = [salt];
    let okm = key.expand(&info, &AES_256_GCM).ok()?;
    Some(LessSafeKey::new(UnboundKey::from(okm)))
}

impl HostTicketer {
    fn encrypt_at(&self, plain: &[u8], now: u64) -> Option<Vec<u8>> {
        let (id, key) = self.keys.first()?;
        let mut salt = [0u8; SALT_LEN];
        self.rng.fill(&mut salt).ok()?;
        let mut out = Vec::with_capacity(HEADER_LEN + ISSUED_LEN + plain.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(id);
        out.extend_from_slice(&salt);
        let mut body = Vec::with_capacity(ISSUED_LEN + plain.len() + TAG_LEN);
        body.extend_from_slice(&now.to_be_bytes());
        body.extend_from_slice(plain);
        // Each ticket has its own key, so the nonce can be fixed.
        ticket_cipher(key, &salt)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0; NONCE_LEN]),
                Aad::from(&out[..]),
                &mut body,
            )
            .ok()?;
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt_at(&self, ticket: &[u8], now: u64) -> Option<Vec<u8>> {
        if ticket.len() < HEADER_LEN + ISSUED_LEN + TAG_LEN || ticket[0] != VERSION {
            return None;
        }
        let (header, sealed) = ticket.split_at(HEADER_LEN);
        let (id, salt) = header[1..].split_at(ID_LEN);
        let (_, key) = self.keys.iter().find(|(k, _)| k[..] == *id)?;
        let mut body = sealed.to_vec();
        let plain = ticket_cipher(key, salt)?
            .open_in_place(
                Nonce::assume_unique_for_key([0; NONCE_LEN]),
                Aad::from(header),
                &mut body,
            )
            .ok()?;
        let (issued, state) = plain.split_at(ISSUED_LEN);
        let issued = u64::from_be_bytes(issued.try_into().ok()?);
        let fresh = issued <= now.saturating_add(CLOCK_SKEW)
            && now.saturating_sub(issued) <= self.lifetime.as_secs();
        fresh.then(|| state.to_vec())
    }
}

impl ProducesTickets for HostTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.lifetime.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.encrypt_at(plain, now())
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.decrypt_at(cipher, now())
    }
}

#[cfg(test)]
mod tests {
    use super::super::TicketKeys;
    use super::*;

    const A: &str = "cWYEoxb96BtCjmSsRFmoBkUibz/58eUILsZeHBDsvcc=";
    const B: &str = "Tx5VPM9OvsoEjuCL8M8THUzx6ibrw7um3qvVAW5VAwU=";

    fn host(keys: &str, binding: &[u8]) -> HostTicketer {
        let keys = TicketKeys::parse(keys, "test").expect("valid keys");
        HostTicketer::new(&keys.keys, binding, Duration::from_secs(3600)).expect("derives")
    }

    #[test]
    fn round_trip_rotation_binding_and_lifetime() {
        let old = host(A, b"crl v1");
        let t = old.encrypt_at(b"state", 1000).expect("encrypts");
        assert_eq!(old.decrypt_at(&t, 1000).as_deref(), Some(&b"state"[..]));
        // Another replica with the same keys and trust state.
        assert_eq!(
            host(A, b"crl v1").decrypt_at(&t, 1001).as_deref(),
            Some(&b"state"[..])
        );
        // Rotation: a new key first, the old one still decrypts; new tickets use the new key.
        let rotated = host(&format!("{B}\n{A}\n"), b"crl v1");
        assert_eq!(rotated.decrypt_at(&t, 1001).as_deref(), Some(&b"state"[..]));
        let t2 = rotated.encrypt_at(b"state", 1000).expect("encrypts");
        assert_eq!(old.decrypt_at(&t2, 1000), None);
        // Another trust state (a new CRL): refused.
        assert_eq!(host(A, b"crl v2").decrypt_at(&t, 1000), None);
        // Past its lifetime, or from too far in the future: refused.
        assert_eq!(
            old.decrypt_at(&t, 1000 + 3600).as_deref(),
            Some(&b"state"[..])
        );
        assert_eq!(old.decrypt_at(&t, 1000 + 3601), None);
        assert_eq!(old.decrypt_at(&t, 1000 - CLOCK_SKEW - 1), None);
        // Any flipped bit: refused; truncated or empty: refused.
        for i in 0..t.len() {
            let mut bad = t.clone();
            bad[i] ^= 1;
            assert_eq!(old.decrypt_at(&bad, 1000), None, "bit flipped at {i}");
        }
        assert_eq!(old.decrypt_at(&t[..t.len() - 1], 1000), None);
        assert_eq!(old.decrypt_at(&[], 1000), None);
        // Two tickets of one state differ (fresh salt).
        assert_ne!(old.encrypt_at(b"state", 1000), Some(t));
    }
}
