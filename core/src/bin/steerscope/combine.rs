//! `steerscope combine`: a weighted sum of vector files → one vector file, with the cosine
//! table of the inputs and a warning for every pair of directions that overlap (adding both
//! then mostly scales one of them).
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use steerscope::model::Edit;
use steerscope::steer::compose::{weighted_sum, CosineTable, OVERLAP_WARNING};
use steerscope::steer::update::Update;

#[derive(clap::Args, Debug)]
pub struct CombineArgs {
    /// FILE[:WEIGHT] (default weight 1), two or more; all at the same site and layer.
    #[arg(long = "vector", required = true)]
    pub vectors: Vec<String>,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: CombineArgs, json: bool) -> Result<()> {
    let (mut names, mut vectors, mut weights, mut files) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for spec in &args.vectors {
        let (file, weight) = match spec.rsplit_once(':') {
            Some((f, w)) if w.parse::<f32>().is_ok() => (f, w.parse::<f32>()?),
            _ => (spec.as_str(), 1.0),
        };
        let a = crate::load_update(Path::new(file))?;
        let Edit::AddVector(v) = &a.edit else {
            bail!(
                "{file}: only added vectors can be summed, this file holds a `{}` update",
                a.name().unwrap_or_default()
            )
        };
        names.push(file.to_string());
        vectors.push(v.to_vec1::<f32>()?);
        weights.push(weight);
        files.push(a);
    }
    if let Some(a) = files.iter().find(|a| (a.site, a.layer) != (files[0].site, files[0].layer)) {
        bail!(
            "all vectors must act at one site and layer: {} at layer {} vs {} at layer {}",
            files[0].site,
            files[0].layer,
            a.site,
            a.layer
        );
    }
    let table = CosineTable::new(names.clone(), &vectors)?;
    let sum = weighted_sum(&vectors, &weights).context("weighted sum")?;
    let overlaps = table.overlaps(OVERLAP_WARNING);
    let meta = HashMap::from([
        ("method".to_string(), "combined".to_string()),
        ("objective".into(), "none".into()),
        (
            "combined_from".into(),
            names.iter().zip(&weights).map(|(n, w)| format!("{w}×{n}")).collect::<Vec<_>>().join(" + "),
        ),
    ]);
    let edit = Edit::AddVector(Tensor::from_slice(&sum, sum.len(), &Device::Cpu)?);
    if let Some(a) = files.iter().find(|a| a.positions != files[0].positions) {
        bail!("all vectors must steer the same positions: {} vs {}", files[0].positions.name(), a.positions.name());
    }
    let update = Update { layer: files[0].layer, site: files[0].site, edit, positions: files[0].positions, meta };
    crate::save_update(&update, &args.out)?;
    if json {
        println!("{}", serde_json::json!({"out": args.out, "cosine": table, "overlaps": overlaps}));
        return Ok(());
    }
    print!("{}", table.to_markdown());
    for (i, j, c) in &overlaps {
        eprintln!(
            "warning: `{}` and `{}` overlap (cosine {c:.2}): adding both mostly scales one direction",
            names[*i], names[*j]
        );
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
