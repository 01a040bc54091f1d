//! The frontier: several methods' sweeps at one layer on the same pairs, preference against
//! utility, each a curve over strength — where each method sits on the trade-off, beside the
//! random direction of the same size (the noise floor). The prompting baseline is a single
//! point measured apart ([`crate::analysis::baseline::prompting`]).
//!
//! A session keeps every update it fitted, trained or loaded with its points
//! ([`SweepSession`]); [`measure`] sweeps the ones asked for over shared strengths and
//! [`SweepSession::frontier`] collects whatever has been measured so far, with each curve's
//! manifold account (off-manifold score against utility drop, and their rank correlation).
use crate::analysis::session::{Direction, Split, SweepSession};
use crate::analysis::sweep::{manifold_points, manifold_vs_utility_drop, ManifoldPoint, SweepPoint};
use crate::error::{Error, Result};
use crate::model::{Llama, Site};
use crate::progress::{Part, Progress, Share};
use alloc::{string::String, vec::Vec};

/// One update's (or the random direction's) points on a split, by strength.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Curve {
    /// The update's name (`diffmean`, `lora-split`, …) or `random@<site>`.
    pub name: String,
    /// Where it acts.
    pub site: Site,
    /// Its points measured so far, the unsteered one included, by strength.
    pub points: Vec<SweepPoint>,
    /// Off-manifold score against utility drop over those points.
    pub manifold: Vec<ManifoldPoint>,
    /// Spearman correlation of the two (`None` with fewer than two defined points or a constant).
    pub manifold_vs_utility_drop: Option<f32>,
}

impl Curve {
    fn new(name: String, site: Site, points: Vec<SweepPoint>) -> Self {
        Curve {
            manifold: manifold_points(&points),
            manifold_vs_utility_drop: manifold_vs_utility_drop(&points),
            name,
            site,
            points,
        }
    }
}

/// Every update of a session as a curve on one split, with the random direction per site.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Frontier {
    /// The layer every curve acts at.
    pub layer: usize,
    /// The pairs the points were measured on.
    pub split: Split,
    /// The name of the session's current update.
    pub current: Option<String>,
    /// One curve per update, in the order the session added them.
    pub methods: Vec<Curve>,
    /// The random direction at each site an update acts at (the noise floor).
    pub random: Vec<Curve>,
}

impl SweepSession {
    /// The frontier of everything measured so far on `split` (no forward pass).
    pub fn frontier(&self, split: Split) -> Frontier {
        let methods: Vec<Curve> = self
            .updates()
            .iter()
            .map(|u| Curve::new(u.name.clone(), u.site, self.points_of(split, &u.name).unwrap_or_default()))
            .collect();
        let mut sites: Vec<Site> = Vec::new();
        for u in self.updates() {
            if !sites.contains(&u.site) {
                sites.push(u.site);
            }
        }
        let random = sites
            .into_iter()
            .map(|site| Curve::new(alloc::format!("random@{site}"), site, self.random_points(split, site)))
            .filter(|c| c.points.iter().any(|p| p.point.strength != 0.0))
            .collect();
        Frontier { layer: self.layer(), split, current: self.steered().map(|s| s.name.clone()), methods, random }
    }
}

/// Measures the updates called `names` (all of them if empty) at every one of `strengths` on
/// `split` — and, with `random`, the random direction at each of their sites — then returns the
/// frontier. Points already measured are reused; the current update stays current. Progress:
/// one unit per pair of each (curve, strength); stopping through it keeps every point finished
/// so far.
pub fn measure(
    session: &mut SweepSession, llama: &Llama, split: Split, names: &[String], strengths: &[f32], random: bool,
    mut progress: impl Progress,
) -> Result<Frontier> {
    if strengths.is_empty() {
        return Err(Error::Invalid("no strengths to measure the frontier at".into()));
    }
    if let Some(m) = strengths.iter().find(|m| !m.is_finite()) {
        return Err(Error::BadStrength(*m));
    }
    let names: Vec<String> =
        if names.is_empty() { session.updates().iter().map(|u| u.name.clone()).collect() } else { names.to_vec() };
    if names.is_empty() {
        return Err(Error::Invalid("no update in this session yet: fit, train or load one first".into()));
    }
    let current = session.steered().map(|s| s.name.clone());
    // The random direction of a site is shared by every update there: measure it once per site.
    let mut jobs: Vec<(String, Direction)> = Vec::new();
    let mut sites: Vec<Site> = Vec::new();
    for name in &names {
        let site = session.select(name)?.site; // checks every name before any work
        jobs.push((name.clone(), Direction::Update));
        if random && !sites.contains(&site) {
            sites.push(site);
            jobs.push((name.clone(), Direction::Random));
        }
    }
    let n = session.len(split);
    let total = jobs.len() * strengths.len() * n;
    let mut run = || -> Result<()> {
        for (j, (name, direction)) in jobs.iter().enumerate() {
            session.select(name)?;
            for (i, &m) in strengths.iter().enumerate() {
                let before = (j * strengths.len() + i) * n;
                session.point(llama, split, *direction, m, Share { whole: &mut progress, before, units: n, total })?;
                // A cached point reports nothing: count it here.
                Part { whole: &mut progress, before, total }.report(n, n)?;
            }
        }
        Ok(())
    };
    let result = run();
    if let Some(name) = current {
        session.select(&name)?;
    }
    result?;
    Ok(session.frontier(split))
}
