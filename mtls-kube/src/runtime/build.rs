//! One update: the cached objects translated, each deleted or invalid Secret or ConfigMap put
//! back at its last good version, the credentials held in memory or written.

use super::*;

/// Translates the cached objects, a deleted or invalid Secret or ConfigMap replaced by its
/// last good version ([`restore_last_good`]); with [`SecretPaths::Files`] writes the
/// credentials, with [`SecretPaths::References`] holds them in memory (and inlines the
/// ConfigMaps).
pub(super) fn build(
    generation: u64,
    options: &Options,
    cache: &cache::Cache,
    last: &mut Last,
) -> Update {
    let (input, mut translation, restored) = restore_last_good(cache, options, &last.good);
    let (secrets, kept_in_memory) = Secrets::collect(
        &translation.credentials,
        &input,
        &last.secrets,
        &options.default_namespace,
    );
    let mut written = match options.secret_paths {
        SecretPaths::References => {
            secrets.inline_config_maps(&mut translation.config, &options.mount_root);
            materialize::Written {
                kept: kept_in_memory,
                ..materialize::Written::default()
            }
        }
        _ => materialize::materialize(&translation.credentials, &input),
    };
    for c in &translation.credentials {
        if let Some(reason) = restored.get(&c.object) {
            written
                .kept
                .push(Kept::new(&c.object, c, reason.clone(), true));
        }
    }
    let broken = cache.broken();
    report::report(&mut translation, &broken, &written.kept, &mut last.reported);
    for e in &written.errors {
        tracing::error!(error = %e, "cannot write a credential");
    }
    last.secrets = secrets.clone();
    last.good = translation
        .credentials
        .iter()
        .filter(|c| matches!(c.state, RefState::Resolved { .. }))
        .filter_map(|c| Some((c.object.clone(), input.raw(&c.object)?.clone())))
        .collect();
    Update {
        generation,
        translation,
        secrets,
        broken,
        kept: written.kept,
        written: written.changed,
        write_errors: written.errors,
    }
}

/// Translates `cache`, each Secret or ConfigMap the translation reads that is deleted or
/// invalid now and has a version in `good` (one that resolved in the last update) put back at
/// that version, until every one that can be is: a deleted CA Secret goes on feeding its
/// certificates and its CRL. Returns the objects translated, the translation and why each
/// restored object's current version is not used (`deleted`, or the translation's reason).
pub(super) fn restore_last_good(
    cache: &cache::Cache,
    options: &Options,
    good: &BTreeMap<ObjectRef, Value>,
) -> (cache::Cache, Translation, BTreeMap<ObjectRef, String>) {
    let mut input = cache.clone();
    let mut restored = BTreeMap::new();
    loop {
        let translation = translate(&input.objects(), options);
        let mut more = false;
        for c in &translation.credentials {
            let reason = match &c.state {
                RefState::Resolved { .. } => continue,
                _ if cache.raw(&c.object).is_none() => "deleted".to_owned(),
                RefState::Invalid { reason } => reason.clone(),
                RefState::NotInInput => "not found".to_owned(),
            };
            let Some(value) = good.get(&c.object) else {
                continue;
            };
            if restored.contains_key(&c.object) {
                continue;
            }
            input.restore(&c.object, value.clone());
            restored.insert(c.object.clone(), reason);
            more = true;
        }
        if !more {
            return (input, translation, restored);
        }
    }
}

/// What the last update had: the problems it reported, the keys it held, and the Secrets and
/// ConfigMaps its translation read that resolved (as the API returned them).
#[derive(Default)]
pub(super) struct Last {
    reported: report::Reported,
    secrets: Secrets,
    good: BTreeMap<ObjectRef, Value>,
}
