//! The gateway configuration as YAML.

use base64::Engine as _;
use mtls_policy::Pins;
use serde_norway::{Mapping, Value};

use crate::model::GatewayConfig;

impl GatewayConfig {
    /// The configuration as `mtls-gateway run --config` reads it.
    pub fn to_yaml(&self) -> String {
        let mut value = serde_norway::to_value(self).unwrap_or(Value::Null);
        self.insert_pins(&mut value);
        serde_norway::to_string(&value).unwrap_or_default()
    }

    /// mtls-policy does not serialize `pins` (its digests are parsed, not kept as text): write
    /// them back as hex (certificates) and base64 (SPKIs).
    fn insert_pins(&self, value: &mut Value) {
        for (i, listener) in self.policy.listeners.iter().enumerate() {
            for (j, host) in listener.hosts.iter().enumerate() {
                let Some(v) = &host.client_validation else {
                    continue;
                };
                if v.pins.is_empty() {
                    continue;
                }
                let target = value
                    .get_mut("policy")
                    .and_then(|p| p.get_mut("listeners"))
                    .and_then(|l| l.get_mut(i))
                    .and_then(|l| l.get_mut("hosts"))
                    .and_then(|h| h.get_mut(j))
                    .and_then(|h| h.get_mut("client_validation"));
                if let Some(Value::Mapping(m)) = target {
                    m.insert("pins".into(), pins_value(&v.pins));
                }
            }
        }
    }
}

fn pins_value(pins: &Pins) -> Value {
    let mut cert: Vec<String> = pins
        .cert_sha256
        .iter()
        .map(|d| {
            d.0.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    let mut spki: Vec<String> = pins
        .spki_sha256
        .iter()
        .map(|d| base64::engine::general_purpose::STANDARD.encode(d.0))
        .collect();
    cert.sort();
    spki.sort();
    let mut m = Mapping::new();
    if !cert.is_empty() {
        m.insert("cert_sha256".into(), cert.into());
    }
    if !spki.is_empty() {
        m.insert("spki_sha256".into(), spki.into());
    }
    Value::Mapping(m)
}
