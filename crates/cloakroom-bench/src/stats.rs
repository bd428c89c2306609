//! Minimum, median and maximum over repeated runs, and their text form.

use std::fmt;

/// Minimum, median and maximum of a set of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The smallest value.
    pub min: f64,
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The largest value.
    pub max: f64,
    /// How many values there were.
    pub count: usize,
}

impl Spread {
    /// The spread of `values`; `None` when there are none (NaNs are ignored).
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            min: sorted[0],
            median,
            max: sorted[n - 1],
            count: n,
        })
    }

    /// The same spread with every value passed through `f` (which must keep order).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self {
            min: f(self.min),
            median: f(self.median),
            max: f(self.max),
            count: self.count,
        }
    }

    /// `median (min–max)` with `decimals` digits after the point.
    pub fn display(&self, decimals: usize) -> String {
        format!("{:.d$} ({:.d$}–{:.d$})", self.median, self.min, self.max, d = decimals)
    }

    /// Ratios as `0.93x (0.90–0.95)`.
    pub fn ratio(&self) -> String {
        format!("{:.2}x ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display(1))
    }
}

/// Element-wise `a[i] / b[i]` for the rounds both have (a ratio per round).
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|(_, b)| **b != 0.0)
        .map(|(a, b)| a / b)
        .collect()
}

/// Requests per second in thousands, for tables: `48.2k`.
pub fn kilo(rps: f64) -> String {
    format!("{:.1}k", rps / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.count), (1.0, 2.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn ratios_are_per_round_and_skip_zero_denominators() {
        assert_eq!(ratios(&[2.0, 3.0, 4.0], &[1.0, 0.0, 2.0]), vec![2.0, 2.0]);
        let r = Spread::of(&ratios(&[90.0, 95.0, 99.0], &[100.0, 100.0, 100.0])).unwrap();
        assert_eq!(r.ratio(), "0.95x (0.90–0.99)");
    }

    #[test]
    fn display_forms() {
        let s = Spread::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.display(0), "2 (1–3)");
        assert_eq!(s.map(|v| v * 10.0).to_string(), "20.0 (10.0–30.0)");
        assert_eq!(kilo(48_250.0), "48.2k");
    }
}
