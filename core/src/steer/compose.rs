//! Composing steering vectors (no_std + alloc): weighted sums, and the cosine table that warns
//! when two of them overlap.
//!
//! Adding two steering vectors only steers two ways at once if their directions differ. When
//! they nearly coincide (or oppose), the sum mostly rescales one of them, and the "second"
//! concept is an illusion; the cosine table makes that visible before a sweep is spent on it.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec, vec::Vec};
use core::fmt::Write;

/// The |cosine| at or above which two directions are said to overlap. At |cos| = 0.5 (an angle
/// of 60°, or 120° for opposing ones) half of each unit direction already lies along the other,
/// so adding both mostly scales (or cancels) one of them instead of steering two ways at once.
pub const OVERLAP_WARNING: f32 = 0.5;

/// Cosine of the angle between `a` and `b`.
///
/// Errors: the lengths differ, or either vector has zero norm (no direction to compare).
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    check_widths(a.len(), b.len())?;
    let (na, nb) = (norm64(a), norm64(b));
    for (i, n) in [(1, na), (2, nb)] {
        if n == 0.0 {
            return Err(Error::Invalid(format!("vector {i} has zero norm")));
        }
    }
    // f64 accumulation: residual-stream widths run into the thousands, and the dot product of
    // two nearly orthogonal vectors is a small difference of large sums.
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    // Rounding can push |cos| a hair past 1; clamp so callers can rely on [-1, 1].
    Ok((dot / (na * nb)).clamp(-1.0, 1.0) as f32)
}

fn norm64(v: &[f32]) -> f64 {
    libm::sqrt(v.iter().map(|&x| x as f64 * x as f64).sum())
}

fn check_widths(a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::Invalid(format!("vectors have {a} and {b} entries")))
    }
}

/// Pairwise cosines of named steering vectors, `cosine[i][j]` between vector i and vector j.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CosineTable {
    /// The vectors' names, in row order.
    pub names: Vec<String>,
    /// `cosine[i][j]`, symmetric with a unit diagonal.
    pub cosine: Vec<Vec<f32>>,
}

impl CosineTable {
    /// Errors: the names and vectors differ in number, or any pair fails [`cosine`] (widths
    /// differ, a zero vector); the message then names the vectors involved.
    pub fn new(names: Vec<String>, vectors: &[Vec<f32>]) -> Result<Self> {
        if names.len() != vectors.len() {
            return Err(Error::Invalid(format!("{} names for {} vectors", names.len(), vectors.len())));
        }
        let n = vectors.len();
        let mut table = vec![vec![0.0f32; n]; n];
        for i in 0..n {
            // The diagonal goes through `cosine` too, so a zero vector is caught even when alone.
            for j in i..n {
                let c = cosine(&vectors[i], &vectors[j])
                    .map_err(|e| Error::Invalid(format!("`{}` vs `{}`: {e}", names[i], names[j])))?;
                table[i][j] = c;
                table[j][i] = c;
            }
        }
        Ok(CosineTable { names, cosine: table })
    }

    /// Pairs `(i, j, cos)` with `i < j` and `|cos| ≥ threshold`; opposite directions overlap
    /// as much as equal ones (adding one cancels the other).
    pub fn overlaps(&self, threshold: f32) -> Vec<(usize, usize, f32)> {
        let n = self.names.len();
        let mut out = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let c = self.cosine[i][j];
                if c.abs() >= threshold {
                    out.push((i, j, c));
                }
            }
        }
        out
    }

    /// The table as Markdown, cosines to 3 decimals.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| |");
        for name in &self.names {
            let _ = write!(s, " {name} |");
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(self.names.len()));
        s.push('\n');
        for (name, row) in self.names.iter().zip(&self.cosine) {
            let _ = write!(s, "| {name} |");
            for c in row {
                let _ = write!(s, " {c:.3} |");
            }
            s.push('\n');
        }
        s
    }
}

/// `Σ weights[k] · vectors[k]`.
///
/// Errors: no vectors, a different number of weights than vectors, a non-finite weight, or
/// vectors of different widths.
pub fn weighted_sum(vectors: &[Vec<f32>], weights: &[f32]) -> Result<Vec<f32>> {
    let Some(first) = vectors.first() else {
        return Err(Error::Invalid(String::from("no vectors to sum")));
    };
    if weights.len() != vectors.len() {
        return Err(Error::Invalid(format!("{} weights for {} vectors", weights.len(), vectors.len())));
    }
    if let Some(k) = weights.iter().position(|w| !w.is_finite()) {
        return Err(Error::Invalid(format!("weight {k} is {}, expected a finite number", weights[k])));
    }
    let mut sum = vec![0.0f32; first.len()];
    for (v, &w) in vectors.iter().zip(weights) {
        check_widths(first.len(), v.len())?;
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += w * x);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    fn message(r: Result<impl core::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cosine_of_known_angles() {
        assert!(close(cosine(&[1.0, 0.0, 0.0], &[0.0, 3.0, 0.0]).unwrap(), 0.0));
        assert!(close(cosine(&[1.0, 2.0, -3.0], &[2.0, 4.0, -6.0]).unwrap(), 1.0));
        assert!(close(cosine(&[1.0, 2.0, -3.0], &[-0.5, -1.0, 1.5]).unwrap(), -1.0));
        // 45°: cos = 1/√2.
        assert!(close(cosine(&[1.0, 0.0], &[1.0, 1.0]).unwrap(), core::f32::consts::FRAC_1_SQRT_2));
    }

    #[test]
    fn cosine_errors() {
        assert_eq!(message(cosine(&[0.0, 0.0], &[1.0, 0.0])), "vector 1 has zero norm");
        assert_eq!(message(cosine(&[1.0, 0.0], &[0.0, 0.0])), "vector 2 has zero norm");
        assert_eq!(message(cosine(&vec![1.0; 576], &vec![1.0; 1536])), "vectors have 576 and 1536 entries");
    }

    #[test]
    fn weighted_sum_by_hand() {
        let v = vec![vec![1.0, 2.0, 3.0], vec![0.0, -1.0, 4.0]];
        // 2·(1,2,3) − 0.5·(0,−1,4) = (2, 4.5, 4).
        assert_eq!(weighted_sum(&v, &[2.0, -0.5]).unwrap(), vec![2.0, 4.5, 4.0]);
        assert_eq!(weighted_sum(&v[..1], &[0.0]).unwrap(), vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn weighted_sum_errors() {
        let v = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert_eq!(message(weighted_sum(&[], &[])), "no vectors to sum");
        assert_eq!(message(weighted_sum(&v, &[1.0])), "1 weights for 2 vectors");
        assert_eq!(message(weighted_sum(&v, &[1.0, f32::NAN])), "weight 1 is NaN, expected a finite number");
        assert_eq!(message(weighted_sum(&v, &[f32::INFINITY, 1.0])), "weight 0 is inf, expected a finite number");
        let ragged = vec![vec![1.0, 2.0], vec![3.0, 4.0, 5.0]];
        assert_eq!(message(weighted_sum(&ragged, &[1.0, 1.0])), "vectors have 2 and 3 entries");
    }

    fn three() -> CosineTable {
        let v = vec![vec![1.0, 0.0, 0.0], vec![1.0, 1.0, 0.0], vec![0.0, 0.0, -2.0]];
        CosineTable::new(names(&["a", "b", "c"]), &v).unwrap()
    }

    #[test]
    fn table_is_symmetric_with_unit_diagonal() {
        let t = three();
        for i in 0..3 {
            assert!(close(t.cosine[i][i], 1.0));
            for j in 0..3 {
                assert_eq!(t.cosine[i][j], t.cosine[j][i]);
            }
        }
        assert!(close(t.cosine[0][1], core::f32::consts::FRAC_1_SQRT_2));
        assert!(close(t.cosine[0][2], 0.0));
    }

    #[test]
    fn overlaps_found_and_not_found() {
        let t = three();
        let o = t.overlaps(OVERLAP_WARNING);
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].0, o[0].1), (0, 1));
        assert!(close(o[0].2, core::f32::consts::FRAC_1_SQRT_2));
        assert!(t.overlaps(0.8).is_empty());
        // Antiparallel directions overlap too.
        let anti = CosineTable::new(names(&["x", "y"]), &[vec![1.0, 2.0], vec![-2.0, -4.0]]).unwrap();
        let o = anti.overlaps(OVERLAP_WARNING);
        assert_eq!(o.len(), 1);
        assert!(close(o[0].2, -1.0));
    }

    #[test]
    fn table_errors_name_the_vectors() {
        assert_eq!(message(CosineTable::new(names(&["a"]), &[vec![1.0], vec![2.0]])), "1 names for 2 vectors");
        assert_eq!(
            message(CosineTable::new(names(&["a", "z"]), &[vec![1.0], vec![0.0]])),
            "`a` vs `z`: vector 2 has zero norm"
        );
        assert_eq!(
            message(CosineTable::new(names(&["a", "w"]), &[vec![1.0], vec![1.0, 2.0]])),
            "`a` vs `w`: vectors have 1 and 2 entries"
        );
    }

    #[test]
    fn markdown_has_header_and_rows() {
        let md = three().to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "| | a | b | c |");
        assert_eq!(lines[1], "|---|---:|---:|---:|");
        assert_eq!(lines[2], "| a | 1.000 | 0.707 | 0.000 |");
        assert_eq!(lines[4], "| c | 0.000 | 0.000 | 1.000 |");
    }
}
