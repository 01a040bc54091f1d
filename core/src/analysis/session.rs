//! The sweep session: the one place a steering experiment runs, wrapped by the CLI (`sweep`,
//! `calibrate`, `results`) and by the page (through the wasm `Session`) without logic of their
//! own.
//!
//! A session is a layer ℓ and two sets of polarity pairs (train, test). It
//! 1. fits or trains an update at ℓ — or takes one from a file ([`SweepSession::fit`],
//!    [`SweepSession::train`], [`SweepSession::set_update`]);
//! 2. rescales it to strength units ([`crate::steer::strength`]) with a random direction of the
//!    same size beside it (the noise floor);
//! 3. measures points `m` on either split ([`SweepSession::point`]): preference, utility, their
//!    per-pair statistics, and the off-manifold score; points are cached, and the unsteered one
//!    is shared by every direction;
//! 4. checks that steering was applied and fits the paper's curves ([`SweepSession::sweep`],
//!    [`SweepSession::curves`]).
//!
//! Pairs are run through the layers below ℓ on first need ([`Prepared`]), so a session that
//! only ever measures held-out points never touches the training pairs' forward pass.
use crate::analysis::baseline::random_direction;
use crate::analysis::point::summarize;
use crate::analysis::sweep::{self, fit_curves, fit_curves_heldout, Curves, OffManifold, Sweep, SweepPoint};
use crate::error::{Error, Result};
use crate::future::wait;
use crate::math::logodds::PairScore;
use crate::model::generate::{generate, Sampling};
use crate::model::pairs::{unsteered, Activations, PairEngine, Prepared, Read, ScorePairs};
use crate::model::score::PairTokens;
use crate::model::sites::Positions;
use crate::model::tokens::{ReadPositions, TokenEffects};
use crate::model::{Edit, Intervention, Llama, Model, Site, Steering};
use crate::progress::{ByRef, Part, Progress};
use crate::steer::control_vector::{ControlVector, Provenance};
use crate::steer::fitted::FittedVector;
use crate::steer::methods::Method;
use crate::steer::strength::{residual_norm, UpdateScale};
use crate::steer::train::{TrainSettings, Trainer};
use crate::steer::update::Update;
use alloc::{boxed::Box, format, rc::Rc, string::String, vec::Vec};
use candle_core::{Device, Tensor};

/// The strengths a sweep measures unless told otherwise (10 adds a `Δh` of half the layer's mean
/// residual norm): symmetric around 0, denser near it where the curves bend, and 13 points
/// because the curve model has 9 parameters and a fit needs well over 9. The CLI's `sweep` and
/// the page (through the wasm `Session::default_strengths`) both sweep these.
pub const DEFAULT_STRENGTHS: [f32; 13] = [-10.0, -8.0, -6.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0];

/// Which pairs a point is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The pairs the update was fitted on.
    Train,
    /// The held-out pairs.
    Test,
}

/// What a point steers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The session's update.
    Update,
    /// A random direction of the same size at the same site (the noise floor).
    Random,
}

/// An update in strength units, ready to sweep.
#[derive(Debug, Clone)]
pub struct Steered {
    /// The method's or file's name, e.g. `diffmean`, `lora-split`.
    pub name: String,
    /// Where it acts.
    pub site: Site,
    /// Which positions it steers.
    pub positions: Positions,
    /// Which positions the method read its signal from.
    pub reads: ReadPositions,
    /// The update, rescaled so that strength 10 adds half the layer's mean residual norm.
    pub edit: Edit,
    /// A random direction rescaled the same way.
    pub random: Edit,
    /// The update's size as found, and the layer's residual norm.
    pub scale: UpdateScale,
}

impl Steered {
    /// What a host shows about the update: where it acts, what it read, and its size as found
    /// against the layer's residual norm (the strength unit).
    pub fn info(&self, layer: usize) -> UpdateInfo {
        UpdateInfo {
            method: self.name.clone(),
            layer,
            site: self.site,
            positions: self.positions.name(),
            reads: self.reads,
            effect_norm: self.scale.effect_norm,
            mean_hidden_norm: self.scale.residual_norm,
            to_strength_units: self.scale.to_strength_units(),
        }
    }
}

/// An update as [`Steered::info`] describes it (the page's and the precomputed files' form).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UpdateInfo {
    /// The method's or file's name.
    pub method: String,
    /// The layer it acts at.
    pub layer: usize,
    /// The site it acts at.
    pub site: Site,
    /// The positions it steers (`all`, `prompt`, `completion`, `from:N`).
    pub positions: String,
    /// The positions the method read its signal from.
    pub reads: ReadPositions,
    /// Mean `|Δh|` the update adds, as found.
    pub effect_norm: f32,
    /// The layer's mean residual norm over the training pairs' completion tokens.
    pub mean_hidden_norm: f32,
    /// The factor that put the update in strength units.
    pub to_strength_units: f32,
}

/// The update's measurements on one split so far, as the page shows them and the precomputed
/// files keep them ([`SweepSession::summary`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The update's points (with the shared unsteered one), by strength.
    pub points: Vec<SweepPoint>,
    /// The random direction's points, by strength.
    pub random: Vec<SweepPoint>,
    /// [`SweepSession::applied`].
    pub applied: Option<bool>,
    /// [`SweepSession::manifold_rank`].
    pub manifold_rank: usize,
    /// Rank correlation of leaving the manifold with losing utility over `points`.
    pub manifold_vs_utility_drop: Option<f32>,
    /// [`SweepSession::curves`] fitted on this split.
    pub curves: Curves,
}

/// The per-session state of one split: its pairs as tokens, and (on first need) prepared — on
/// the CPU, and on the session's engine when it scores elsewhere.
struct SplitPairs {
    tokens: Vec<PairTokens>,
    prepared: Option<Prepared>,
    on_engine: Option<Box<dyn ScorePairs>>,
}

/// A cached point and what it was measured with.
struct Cached {
    split: Split,
    /// What steered it: the update's name, `random@site`, or `unsteered@site` at `m = 0`.
    key: String,
    strength: f32,
    point: SweepPoint,
}

/// A steering experiment at one layer; see the module docs.
pub struct SweepSession {
    layer: usize,
    splits: [SplitPairs; 2],
    residual_norm: Option<f32>,
    /// Every update fitted, trained or set in this session, by name (a frontier compares them).
    updates: Vec<Steered>,
    /// The one [`SweepSession::point`] measures.
    current: Option<usize>,
    points: Vec<Cached>,
    /// Off-manifold references per (split, site), from unsteered activations.
    references: Vec<(Split, Site, Option<OffManifold>)>,
    /// Where points are scored when not on the CPU ([`SweepSession::score_on`]).
    engine: Option<Rc<dyn PairEngine>>,
    /// Why the engine was dropped mid-point (a lost device), if it was.
    engine_lost: Option<String>,
}

fn index(split: Split) -> usize {
    match split {
        Split::Train => 0,
        Split::Test => 1,
    }
}

impl SweepSession {
    /// A session at `layer` over `train` and `test` pairs (no forward pass yet).
    pub fn new(llama: &Llama, train: Vec<PairTokens>, test: Vec<PairTokens>, layer: usize) -> Result<Self> {
        llama.config.check_layer(layer)?;
        if train.is_empty() || test.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let split = |tokens| SplitPairs { tokens, prepared: None, on_engine: None };
        Ok(SweepSession {
            layer,
            splits: [split(train), split(test)],
            residual_norm: None,
            updates: Vec::new(),
            current: None,
            points: Vec::new(),
            references: Vec::new(),
            engine: None,
            engine_lost: None,
        })
    }

    /// Scores points on `engine` (e.g. the GPU) from now on, or on the CPU with `None`. Points
    /// and references measured so far are forgotten when the engine changes — they came from the
    /// other engine's arithmetic — while updates are kept (fitting and training stay on the CPU).
    pub fn score_on(&mut self, engine: Option<Rc<dyn PairEngine>>) {
        let same = match (&self.engine, &engine) {
            (None, None) => true,
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            _ => false,
        };
        if same {
            return;
        }
        self.engine = engine;
        for s in &mut self.splits {
            s.on_engine = None;
        }
        self.points.clear();
        self.references.clear();
    }

    /// `split`'s pairs prepared for scoring points: on the session's engine, or on the CPU.
    async fn scorer(&mut self, llama: &Llama, split: Split, mut progress: impl Progress) -> Result<&dyn ScorePairs> {
        let layer = self.layer;
        let Some(engine) = &self.engine else { return Ok(self.prepared(llama, split, progress)?) };
        let s = &mut self.splits[index(split)];
        if s.on_engine.is_none() {
            s.on_engine = Some(engine.prepare(llama, &s.tokens, layer, &mut progress).await?);
        }
        Ok(s.on_engine.as_deref().expect("just prepared"))
    }

    /// Whether `split` is prepared where its points are scored.
    fn scorer_ready(&self, split: Split) -> bool {
        let s = &self.splits[index(split)];
        if self.engine.is_some() {
            s.on_engine.is_some()
        } else {
            s.prepared.is_some()
        }
    }

    /// Replaces the held-out pairs, keeping every update (only the training pairs determine
    /// them) and forgetting what was measured on the old held-out pairs: the page changes its
    /// number of test pairs without refitting or retraining anything.
    pub fn set_test(&mut self, test: Vec<PairTokens>) -> Result<()> {
        if test.is_empty() {
            return Err(Error::EmptyDataset);
        }
        self.splits[index(Split::Test)] = SplitPairs { tokens: test, prepared: None, on_engine: None };
        self.points.retain(|c| c.split != Split::Test);
        self.references.retain(|(s, _, _)| *s != Split::Test);
        Ok(())
    }

    /// The layer every update of this session acts at.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Number of pairs in `split`.
    pub fn len(&self, split: Split) -> usize {
        self.splits[index(split)].tokens.len()
    }

    /// `split`'s pairs run through the layers below ℓ (done on first call).
    pub fn prepared(&mut self, llama: &Llama, split: Split, progress: impl Progress) -> Result<&Prepared> {
        let s = &mut self.splits[index(split)];
        if s.prepared.is_none() {
            s.prepared = Some(Prepared::new(llama, &s.tokens, self.layer, progress)?);
        }
        Ok(s.prepared.as_ref().expect("just prepared"))
    }

    /// The layer's mean residual norm over the training pairs' completion tokens — the
    /// yardstick of the strength unit — computed on first need, unless set from an activation
    /// pass that already read it ([`SweepSession::use_activations`]).
    pub fn residual_norm(&mut self, llama: &Llama, progress: impl Progress) -> Result<f32> {
        if let Some(r) = self.residual_norm {
            return Ok(r);
        }
        let r = residual_norm(llama, self.prepared(llama, Split::Train, |_, _| {})?, progress)?;
        self.residual_norm = Some(r);
        Ok(r)
    }

    /// Takes the residual norm at ℓ from activations of the training pairs read in one pass
    /// over many layers (the same rows, so the same number as [`SweepSession::residual_norm`]
    /// would compute): the page moves its layer slider without rerunning the training pairs.
    pub fn use_activations(&mut self, train: &Activations) -> Result<()> {
        self.residual_norm = Some(train.at(self.layer, Site::Residual)?.mean_norm);
        Ok(())
    }

    /// Fits a DiffMean or PCA vector at `site` from activations of the training pairs (read by
    /// the caller in one pass, or here at ℓ if `None`), or trains any other method with its
    /// default settings and `epochs`, then makes it the session's update.
    pub fn fit(
        &mut self, llama: &Llama, method: Method, site: Site, positions: Positions, activations: Option<&Activations>,
        epochs: usize, mut progress: impl Progress,
    ) -> Result<&Steered> {
        if let Method::Trained(form, objective) = method {
            let mut settings = TrainSettings::new(form, objective, self.layer, site);
            settings.epochs = epochs;
            return self.train(llama, settings, positions, progress);
        }
        let read = activations.map_or(Read::CompletionMean, |a| a.read);
        let vector = match activations {
            Some(a) => FittedVector::fit(method, a.at(self.layer, site)?, read)?,
            None => {
                let layer = self.layer;
                let train = self.prepared(llama, Split::Train, |_, _| {})?;
                let acts = train.read_activations(llama, &[(layer, site)], read, progress.by_ref())?;
                FittedVector::fit(method, &acts.sites[0], read)?
            }
        };
        if let Some(a) = activations {
            self.use_activations(a)?;
        }
        let edit = Edit::AddVector(Tensor::from_slice(&vector.vector, vector.vector.len(), &Device::Cpu)?);
        self.steer_with(llama, method.name(), site, positions, read.into(), edit)
    }

    /// Trains an update with `settings` (its layer must be the session's) on the training pairs
    /// and makes it the session's update. Progress counts optimisation steps; stopping through
    /// it (e.g. [`crate::progress::Stoppable`]) ends training with [`Error::Cancelled`].
    pub fn train(
        &mut self, llama: &Llama, settings: TrainSettings, positions: Positions, progress: impl Progress,
    ) -> Result<&Steered> {
        if settings.layer != self.layer {
            return Err(Error::Invalid(format!(
                "training at layer {} in a session at layer {}",
                settings.layer, self.layer
            )));
        }
        let (name, site) = (format!("{}-{}", settings.form.name(), settings.objective.name()), settings.site);
        let train = self.prepared(llama, Split::Train, |_, _| {})?;
        let mut trainer = Trainer::new(llama, train, settings)?;
        trainer.run_reporting(progress)?;
        let edit = trainer.edit();
        self.steer_with(llama, name, site, positions, ReadPositions::CompletionLoss, edit)
    }

    /// Makes an update from a file the session's update (its layer must be the session's).
    pub fn set_update(&mut self, llama: &Llama, update: &Update, fallback_name: &str) -> Result<&Steered> {
        update.check(&llama.config)?;
        if update.layer != self.layer {
            return Err(Error::Invalid(format!(
                "the update acts at layer {}, the session is at layer {}",
                update.layer, self.layer
            )));
        }
        let name = update.name().unwrap_or_else(|| fallback_name.into());
        self.steer_with(llama, name, update.site, update.positions, update.reads()?, update.edit.clone())
    }

    /// Rescales `edit` and a random direction at `site` to strength units and keeps both.
    pub(crate) fn steer_with(
        &mut self, llama: &Llama, name: String, site: Site, positions: Positions, reads: ReadPositions, edit: Edit,
    ) -> Result<&Steered> {
        Intervention::new(&llama.config, self.layer, site, edit.clone(), 1.0)?; // shape check first
        let residual = self.residual_norm(llama, |_, _| {})?;
        let measure = |s: &mut Self, e: &Edit| -> Result<UpdateScale> {
            UpdateScale::measure(llama, s.prepared(llama, Split::Train, |_, _| {})?, site, e, residual)
        };
        let scale = match &edit {
            // A vector needs no forward pass: keep the page's layer moves free of them.
            Edit::AddVector(v) => UpdateScale::of_vector(&v.to_vec1::<f32>()?, residual)?,
            _ => measure(self, &edit)?,
        };
        if scale.effect_norm == 0.0 {
            // Nothing to rescale, and nothing a sweep could show: say so now, not as a flat line.
            return Err(Error::NotApplied);
        }
        let noise = random_direction(&llama.config, site)?;
        let Edit::AddVector(n) = &noise else { unreachable!("a random direction is a vector") };
        let random = UpdateScale::of_vector(&n.to_vec1::<f32>()?, residual)?.rescale(&noise)?;
        let steered = Steered { name, site, positions, reads, edit: scale.rescale(&edit)?, random, scale };
        Ok(self.keep(steered))
    }

    /// Takes an update already in strength units — e.g. fitted in a session over more training
    /// pairs — to measure it on this session's pairs as it is (no rescaling).
    pub fn adopt(&mut self, llama: &Llama, steered: Steered) -> Result<&Steered> {
        Intervention::new(&llama.config, self.layer, steered.site, steered.edit.clone(), 1.0)?;
        Ok(self.keep(steered))
    }

    /// Adds `steered` (replacing an update of the same name and forgetting its points) and makes
    /// it the current one.
    fn keep(&mut self, steered: Steered) -> &Steered {
        let i = match self.updates.iter().position(|u| u.name == steered.name) {
            Some(i) => {
                let old = &self.updates[i].name;
                self.points.retain(|c| c.key != *old);
                self.updates[i] = steered;
                i
            }
            None => {
                self.updates.push(steered);
                self.updates.len() - 1
            }
        };
        self.current = Some(i);
        &self.updates[i]
    }

    /// Makes the update called `name` the current one again (its points are still cached).
    pub fn select(&mut self, name: &str) -> Result<&Steered> {
        let i = self.updates.iter().position(|u| u.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.updates.iter().map(|u| u.name.as_str()).collect();
            Error::Invalid(format!("no update called `{name}` in this session (it has: {})", names.join(", ")))
        })?;
        self.current = Some(i);
        Ok(&self.updates[i])
    }

    /// Every update of the session, in the order they were added.
    pub fn updates(&self) -> &[Steered] {
        &self.updates
    }

    /// The session's update, if one was fitted, trained or set.
    pub fn steered(&self) -> Option<&Steered> {
        self.current.map(|i| &self.updates[i])
    }

    /// The current update, or the error that says there is none yet.
    fn current_update(&self) -> Result<&Steered> {
        self.steered().ok_or_else(|| Error::Invalid("no steering update yet: fit one first".into()))
    }

    /// The cache key of a point of the current update.
    fn key(&self, direction: Direction, m: f32) -> Option<String> {
        let s = self.steered()?;
        Some(match (direction, m == 0.0) {
            (_, true) => format!("unsteered@{}", s.site),
            (Direction::Random, false) => format!("random@{}", s.site),
            (Direction::Update, false) => s.name.clone(),
        })
    }

    /// The steering that measures `direction` at strength `m` (for generating text with it).
    pub fn steering(&self, llama: &Llama, direction: Direction, m: f32) -> Result<Steering> {
        self.steering_at(llama, direction, m, None)
    }

    /// [`SweepSession::steering`] on the positions `mask` (`None`: the update's own).
    fn steering_at(&self, llama: &Llama, direction: Direction, m: f32, mask: Option<Positions>) -> Result<Steering> {
        let s = self.current_update()?;
        let edit = match direction {
            Direction::Update => s.edit.clone(),
            Direction::Random => s.random.clone(),
        };
        let positions = mask.unwrap_or(s.positions);
        Ok(Steering::none().with(Intervention::new(&llama.config, self.layer, s.site, edit, m)?.at(positions)))
    }

    /// The current update at strength `m` as a llama.cpp control vector, with the model's and
    /// the pairs' sha256 where the host knows them ([`ControlVector::export`] refuses what is
    /// not a residual add at every position, and a zero or non-finite `m`).
    pub fn control_vector(
        &self, m: f32, model_sha256: Option<String>, dataset_sha256: Option<String>,
    ) -> Result<ControlVector> {
        let s = self.current_update()?;
        let from = Provenance { method: Some(s.name.clone()), model_sha256, dataset_sha256 };
        ControlVector::export(&s.name, self.layer, s.site, s.positions, &s.edit, m, from)
    }

    /// Where the current update acts, token by token, on `prompt` and `completion` — `None`:
    /// the unsteered model's greedy completion of up to `max_tokens` — at strength `m`, steering
    /// the positions `mask` (`None`: the update's own). The page's token view.
    pub fn token_effects(
        &self, model: &Model, prompt: &[u32], completion: Option<&[u32]>, m: f32, mask: Option<Positions>,
        max_tokens: usize,
    ) -> Result<TokenEffects> {
        let steering = self.steering_at(&model.llama, Direction::Update, m, mask)?; // checks m and the update
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let greedy;
        let completion = match completion {
            Some(ids) => ids,
            None => {
                greedy = generate(model, prompt, max_tokens, Sampling::GREEDY, &Steering::none(), |_| {})?.ids;
                &greedy
            }
        };
        TokenEffects::measure(
            &model.llama,
            &model.tokenizer,
            prompt,
            completion,
            &steering,
            self.current_update()?.reads,
        )
    }

    /// The point at strength `m` on `split` (cached; `m = 0` is shared by both directions).
    pub fn point(
        &mut self, llama: &Llama, split: Split, direction: Direction, m: f32, progress: impl Progress,
    ) -> Result<SweepPoint> {
        self.point_progressive(llama, split, direction, m, |_| {}, progress)
    }

    /// [`SweepSession::point`], calling `partial` with the estimate from the pairs scored so far
    /// after each pair (intervals tighten as pairs land); the last call is the full point.
    ///
    /// Progress counts pairs over everything the point still needs — running the pairs below
    /// the layer (first point of a split), their unsteered pass (first point at a site), then
    /// the steered pass — so a host can stop it after any pair, whichever part is running.
    pub fn point_progressive(
        &mut self, llama: &Llama, split: Split, direction: Direction, m: f32, partial: impl FnMut(&SweepPoint),
        progress: impl Progress,
    ) -> Result<SweepPoint> {
        wait(self.point_progressive_async(llama, split, direction, m, partial, progress))
    }

    /// [`SweepSession::point_progressive`] as a future, for a host whose engine must be awaited
    /// (the browser's GPU); on the CPU it is ready at once. When the engine's device is lost
    /// mid-point, the session drops the engine and measures the point again on the CPU
    /// ([`SweepSession::engine_lost`] then says why), so the computation finishes.
    pub async fn point_progressive_async(
        &mut self, llama: &Llama, split: Split, direction: Direction, m: f32, mut partial: impl FnMut(&SweepPoint),
        mut progress: impl Progress,
    ) -> Result<SweepPoint> {
        match self.measure(llama, split, direction, m, &mut partial, ByRef(&mut progress)).await {
            Err(Error::DeviceLost(why)) if self.engine.is_some() => {
                self.score_on(None);
                self.engine_lost = Some(why);
                self.measure(llama, split, direction, m, partial, progress).await
            }
            result => result,
        }
    }

    /// Why the session stopped scoring on its engine (a lost device), if it did.
    pub fn engine_lost(&self) -> Option<&str> {
        self.engine_lost.as_deref()
    }

    /// The point at `m` (see [`SweepSession::point_progressive`]), on the session's engine.
    async fn measure(
        &mut self, llama: &Llama, split: Split, direction: Direction, m: f32, mut partial: impl FnMut(&SweepPoint),
        mut progress: impl Progress,
    ) -> Result<SweepPoint> {
        let steering = self.steering(llama, direction, m)?; // checks m and that there is an update
        let direction = if m == 0.0 { Direction::Update } else { direction };
        if let Some(c) = self.cached(split, direction, m) {
            partial(&c.point);
            return Ok(c.point.clone());
        }
        let site = self.steered().expect("checked above").site;
        let key = self.key(direction, m).expect("checked above");
        let n = self.len(split);
        let parts =
            [!self.scorer_ready(split), !self.references.iter().any(|(s, t, _)| *s == split && *t == site), m != 0.0];
        let total = n * parts.iter().filter(|&&p| p).count().max(1);
        // Where each part starts in the whole: after the parts before it that are needed.
        let start = |k: usize| n * parts[..k].iter().filter(|&&p| p).count();
        self.scorer(llama, split, Part { whole: &mut progress, before: start(0), total }).await?;
        let reference =
            self.reference(llama, split, site, Part { whole: &mut progress, before: start(1), total }).await?;
        let prepared = self.scorer(llama, split, |_, _| {}).await?;
        let point = if m == 0.0 {
            // The reference already ran the unsteered pairs: the point is their summary.
            let base = unsteered(prepared, llama, site, |_, _| {}).await?;
            let off_manifold = reference.as_ref().map(|r| r.score(&base.activations)).transpose()?;
            let p = SweepPoint { point: summarize(m, &base.scores), off_manifold, pairs: base.scores.clone() };
            partial(&p);
            progress.report(total, total)?;
            p
        } else {
            let before = start(2);
            let (mut scores, mut rows): (Vec<PairScore>, Vec<Vec<f32>>) = (Vec::new(), Vec::new());
            let mut last = None;
            for i in 0..prepared.len() {
                let (score, acts) = prepared.score_pair(llama, i, &steering, site).await?;
                scores.push(score);
                rows.extend(acts);
                let off_manifold = reference.as_ref().map(|r| r.score(&rows)).transpose()?;
                let p = SweepPoint { point: summarize(m, &scores), off_manifold, pairs: scores.clone() };
                partial(&p);
                last = Some(p);
                progress.report(before + i + 1, total)?;
            }
            last.expect("a prepared set has pairs")
        };
        self.points.push(Cached { split, key, strength: m, point: point.clone() });
        Ok(point)
    }

    /// Takes a point measured earlier for the current update (or its random direction) on
    /// `split` — e.g. one the page kept across visits under the full key of what produced it —
    /// into the cache, so it is not measured again and joins [`SweepSession::points`], the
    /// applied check and the curve fits. The caller vouches that it was measured with this very
    /// update and these pairs; what can be checked here is: an update exists, the strength is
    /// finite and the pair count is this split's. A point already cached is left as it is.
    pub fn remember(&mut self, split: Split, direction: Direction, point: SweepPoint) -> Result<()> {
        let m = point.point.strength;
        self.steering_check(m)?;
        if point.point.n_pairs != self.len(split) {
            return Err(Error::Invalid(format!(
                "a remembered point over {} pairs, but this session has {} {split:?} pairs",
                point.point.n_pairs,
                self.len(split)
            )));
        }
        let direction = if m == 0.0 { Direction::Update } else { direction };
        if self.cached(split, direction, m).is_none() {
            let key = self.key(direction, m).expect("checked above");
            self.points.push(Cached { split, key, strength: m, point });
        }
        Ok(())
    }

    /// The checks of [`SweepSession::steering`] that need no model: an update exists and `m` is
    /// finite.
    fn steering_check(&self, m: f32) -> Result<()> {
        self.current_update()?;
        if !m.is_finite() {
            return Err(Error::BadStrength(m));
        }
        Ok(())
    }

    fn cached(&self, split: Split, direction: Direction, m: f32) -> Option<&Cached> {
        let key = self.key(direction, m)?;
        self.points.iter().find(|c| c.split == split && c.key == key && c.strength.to_bits() == m.to_bits())
    }

    /// The off-manifold reference of `split` at `site`: unsteered activations, fitted once.
    async fn reference(
        &mut self, llama: &Llama, split: Split, site: Site, progress: impl Progress,
    ) -> Result<Option<OffManifold>> {
        if let Some((_, _, r)) = self.references.iter().find(|(s, t, _)| *s == split && *t == site) {
            return Ok(r.clone());
        }
        let prepared = self.scorer(llama, split, |_, _| {}).await?;
        let base = unsteered(prepared, llama, site, progress).await?;
        let reference = OffManifold::fit(&base.activations)?;
        self.references.push((split, site, reference.clone()));
        Ok(reference)
    }

    /// Rank of the off-manifold reference used for `split` (0 if too few rows, or not fitted yet).
    pub fn manifold_rank(&self, split: Split) -> usize {
        let site = self.steered().map(|s| s.site);
        self.references
            .iter()
            .find(|(s, t, _)| *s == split && Some(*t) == site)
            .and_then(|(_, _, r)| r.as_ref().map(OffManifold::rank))
            .unwrap_or(0)
    }

    /// Every strength on `split` (all checked before any work), as a [`Sweep`] that refuses an
    /// update that changed nothing. Progress: one unit per strength.
    pub fn sweep(
        &mut self, llama: &Llama, split: Split, direction: Direction, strengths: &[f32], mut progress: impl Progress,
    ) -> Result<Sweep> {
        for &m in strengths {
            self.steering(llama, direction, m)?;
        }
        let mut points = Vec::with_capacity(strengths.len());
        for (i, &m) in strengths.iter().enumerate() {
            points.push(self.point(llama, split, direction, m, |_, _| {})?);
            progress.report(i + 1, strengths.len())?;
        }
        let site = self.steered().expect("checked above").site;
        Sweep::new(self.layer, site, points, self.manifold_rank(split))
    }

    /// The current update's points measured so far on `split` (with the shared unsteered one), by
    /// strength; `Direction::Random` gives the random direction's.
    pub fn points(&self, split: Split, direction: Direction) -> Vec<SweepPoint> {
        let keys: Vec<String> = [self.key(direction, 1.0), self.key(direction, 0.0)].into_iter().flatten().collect();
        self.points_by_key(split, &keys)
    }

    /// The points of the update called `name` measured so far on `split` (with the shared
    /// unsteered one at its site), by strength — any update, not only the current one.
    pub fn points_of(&self, split: Split, name: &str) -> Result<Vec<SweepPoint>> {
        let s = self
            .updates
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| Error::Invalid(format!("no update called `{name}` in this session")))?;
        let keys = [s.name.clone(), format!("unsteered@{}", s.site)];
        Ok(self.points_by_key(split, &keys))
    }

    /// The random direction's points at `site` measured so far on `split`, with the unsteered one.
    pub fn random_points(&self, split: Split, site: Site) -> Vec<SweepPoint> {
        self.points_by_key(split, &[format!("random@{site}"), format!("unsteered@{site}")])
    }

    fn points_by_key(&self, split: Split, keys: &[String]) -> Vec<SweepPoint> {
        let mut pts: Vec<&Cached> = self.points.iter().filter(|c| c.split == split && keys.contains(&c.key)).collect();
        pts.sort_by(|a, b| a.strength.total_cmp(&b.strength));
        pts.into_iter().map(|c| c.point.clone()).collect()
    }

    /// Everything measured so far on `split` for the current update, with the applied check, the
    /// off-manifold reference's rank, the rank correlation of leaving the manifold with losing
    /// utility and the curves fitted on these points.
    pub fn summary(&self, split: Split) -> Summary {
        let points = self.points(split, Direction::Update);
        Summary {
            random: self.points(split, Direction::Random),
            applied: self.applied(split),
            manifold_rank: self.manifold_rank(split),
            manifold_vs_utility_drop: sweep::manifold_vs_utility_drop(&points),
            curves: self.curves(split),
            points,
        }
    }

    /// Whether steering changed anything among the points measured so far on `split` (`None`
    /// until there is an unsteered and a steered point).
    pub fn applied(&self, split: Split) -> Option<bool> {
        sweep::applied(&self.points(split, Direction::Update))
    }

    /// The paper's curves fitted on the update's points so far on `fit_on`, with R² as
    /// `[train, held-out]` (`None` for a split without points).
    pub fn curves(&self, fit_on: Split) -> Curves {
        let site = self.steered().map_or(Site::Residual, |s| s.site);
        let as_sweep = |split| Sweep {
            layer: self.layer,
            site,
            points: self.points(split, Direction::Update),
            manifold_rank: self.manifold_rank(split),
            manifold_vs_utility_drop: None,
        };
        match fit_on {
            Split::Train => fit_curves(&as_sweep(Split::Train), &as_sweep(Split::Test)),
            Split::Test => fit_curves_heldout(&as_sweep(Split::Train), &as_sweep(Split::Test)),
        }
    }
}
