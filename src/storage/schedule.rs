//! The multipart part-size schedule: small files use `part_size`, a stream
//! of unknown length still reaches S3's 5 TiB object limit within 10,000 parts.

/// S3's largest part.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u32 = 10_000;
/// Parts per doubling step.
const STEP: u32 = 900;

/// Size of part `n` (1-based): `base` for the first 900 parts, doubling every
/// 900 parts after that, capped at 5 GiB.
#[must_use]
pub fn part_size_for(base: u64, n: u32) -> u64 {
    let doublings = (n.saturating_sub(1) / STEP).min(20);
    base.saturating_mul(1 << doublings).min(MAX_PART)
}

/// The byte ranges (inclusive) in which an object of `size` bytes is copied
/// as parts of at most `limit` bytes (S3: 5 GiB): as few as the limit
/// allows, of equal size, so each is also above the 5 MiB minimum when
/// `size` is.
#[must_use]
pub fn copy_ranges(size: u64, limit: u64) -> Vec<(u64, u64)> {
    if size == 0 {
        return Vec::new();
    }
    let count = size.div_ceil(limit.max(1));
    let each = size.div_ceil(count);
    (0..count)
        .map(|i| (i * each, ((i + 1) * each).min(size) - 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    const TIB: u64 = 1024 * 1024 * MIB;

    #[test]
    fn small_files_use_the_configured_size() {
        assert_eq!(part_size_for(8 * MIB, 1), 8 * MIB);
        assert_eq!(part_size_for(8 * MIB, 900), 8 * MIB);
        assert_eq!(part_size_for(8 * MIB, 901), 16 * MIB);
    }

    #[test]
    fn reaches_five_tib_within_ten_thousand_parts() {
        for base in [5 * MIB, 8 * MIB, 16 * MIB, 100 * MIB, 5 * 1024 * MIB] {
            let total: u64 = (1..=MAX_PARTS).map(|n| part_size_for(base, n)).sum();
            assert!(total >= 5 * TIB, "base {base}: only {total} bytes");
            assert!((1..=MAX_PARTS).all(|n| part_size_for(base, n) <= MAX_PART));
            assert!((1..MAX_PARTS).all(|n| part_size_for(base, n) <= part_size_for(base, n + 1)));
        }
    }

    #[test]
    fn copy_ranges_cover_the_object_within_part_limits() {
        assert!(copy_ranges(0, MAX_PART).is_empty());
        assert_eq!(copy_ranges(6 * MIB, MAX_PART), vec![(0, 6 * MIB - 1)]);
        assert_eq!(copy_ranges(MAX_PART, MAX_PART), vec![(0, MAX_PART - 1)]);
        for size in [
            MAX_PART + 1,
            2 * MAX_PART,
            2 * MAX_PART + 7,
            5 * 1024 * 1024 * MIB - 3,
        ] {
            let r = copy_ranges(size, MAX_PART);
            assert_eq!(r.len() as u64, size.div_ceil(MAX_PART), "size {size}");
            assert_eq!(r[0].0, 0);
            assert_eq!(r.last().unwrap().1, size - 1);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0, "contiguous");
            }
            for (a, b) in &r {
                let len = b - a + 1;
                assert!(
                    (MIN_PART..=MAX_PART).contains(&len),
                    "size {size}: part {len}"
                );
            }
        }
    }
}
