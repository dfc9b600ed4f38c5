//! Sharp tools: settings that let unverified or expired client certificates through.
//!
//! Each use is reported as an audit note on the [`crate::Decision`].

use serde::{Deserialize, Serialize};

/// Dangerous client-validation settings of a host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DangerousClientValidation {
    /// Any client certificate passes, whatever its verification says (osm-edge
    /// `tls.skipClientCertValidation`, Gateway API `AllowInsecureFallback`, nginx
    /// `optional_no_ca`). Identity rules still apply to the certificate's claims.
    #[serde(default)]
    pub skip_client_cert_validation: bool,
    /// Expired (and not-yet-valid) client certificates pass.
    #[serde(default)]
    pub allow_expired: bool,
}
