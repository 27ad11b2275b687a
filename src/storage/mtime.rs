//! Object times in S3 metadata: rclone's `x-amz-meta-mtime` convention,
//! and S3's own timestamps.

use time::OffsetDateTime;

/// Metadata key holding a file's modification time (rclone's convention).
pub const MTIME_META: &str = "mtime";

/// Parses `x-amz-meta-mtime`: seconds since the epoch with optional fraction
/// (rclone writes `1577934245.123456789`), or RFC 3339.
#[must_use]
pub fn parse_mtime(v: &str) -> Option<OffsetDateTime> {
    let v = v.trim();
    if let Ok(t) = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| t + time::Duration::nanoseconds(nanos))
}

/// Formats a time the way [`parse_mtime`] and rclone read it.
#[must_use]
pub fn format_mtime(t: OffsetDateTime) -> String {
    format!("{}.{:09}", t.unix_timestamp(), t.nanosecond())
}

/// S3's timestamp as a time (now, when S3 sent none).
pub(super) fn to_time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> OffsetDateTime {
    t.and_then(|t| {
        OffsetDateTime::from_unix_timestamp(t.secs())
            .ok()
            .map(|o| o + time::Duration::nanoseconds(i64::from(t.subsec_nanos())))
    })
    .unwrap_or_else(OffsetDateTime::now_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_formats() {
        let t = parse_mtime("1577934245.5").unwrap();
        assert_eq!(t.unix_timestamp(), 1_577_934_245);
        assert_eq!(t.nanosecond(), 500_000_000);
        assert_eq!(parse_mtime(&format_mtime(t)), Some(t));
        assert_eq!(
            parse_mtime("2020-01-02T03:04:05Z")
                .unwrap()
                .unix_timestamp(),
            1_577_934_245
        );
        assert_eq!(
            parse_mtime("1577934245").unwrap().unix_timestamp(),
            1_577_934_245
        );
        assert_eq!(parse_mtime("yesterday"), None);
    }
}
