//! RFC 3339 times as the suite writes them (`2024-01-01T00:00:00+00:00`, fractional seconds
//! and `Z` allowed), to Unix seconds. Small enough not to need a date crate.

/// Seconds since the Unix epoch of an RFC 3339 date-time, or why it is not one.
pub(crate) fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let bad = |what: &str| format!("validation_time {text:?}: {what}");
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let digits = text.get(range).ok_or_else(|| bad("truncated"))?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("not a number"));
        }
        digits.parse().map_err(|_| bad("not a number"))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad("expected HH:MM:SS"));
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad("field out of range"));
    }
    if second > 60 {
        return Err(bad("field out of range"));
    }
    // Fractional seconds are dropped (the suite's are sub-second).
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("empty fraction"));
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hhmm) = match rest.as_bytes().first() {
                Some(b'+') => (1, &rest[1..]),
                Some(b'-') => (-1, &rest[1..]),
                _ => return Err(bad("expected Z or an offset")),
            };
            let (h, m) = hhmm.split_once(':').ok_or_else(|| bad("bad offset"))?;
            let h: i64 = h.parse().map_err(|_| bad("bad offset"))?;
            let m: i64 = m.parse().map_err(|_| bad("bad offset"))?;
            sign * (h * 3600 + m * 60)
        }
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).map_err(|_| bad("before 1970"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn parses_the_suite_formats() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00+00:00"), Ok(951_868_800));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:34:56.789+02:00"),
            Ok(1_709_210_096 - 7200)
        );
        assert_eq!(
            parse_rfc3339("2038-01-19T03:14:08-00:00"),
            Ok(2_147_483_648)
        );
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
