//! One-of maps (`{ exact: x }`): YAML crates read externally tagged enums only as YAML tags,
//! so choices are plain maps with exactly one key, checked here.

/// Picks the one set choice, or explains which keys are allowed or competing.
pub(crate) fn exactly_one<T>(choices: Vec<(&'static str, Option<T>)>) -> Result<T, String> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let mut set: Vec<(&str, T)> = choices
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
    match set.len() {
        1 => Ok(set.remove(0).1),
        0 => Err(format!("expected one of `{}`", names.join("`, `"))),
        _ => {
            let keys: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "conflicting settings: `{}` (set only one)",
                keys.join("` and `")
            ))
        }
    }
}
