//! `steerscope inspect`: a GGUF file's metadata and tensor table.
use anyhow::Result;
use std::path::Path;
use steerscope::gguf::Gguf;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Also list every tensor.
    #[arg(long)]
    pub tensors: bool,
}

pub fn run(args: InspectArgs, path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path)?;
    let g = Gguf::parse(&bytes)?;
    let config = steerscope::model::Config::from_gguf(&g);
    if json {
        let tensors: Vec<_> = g
            .tensors
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "type": format!("{:?}", t.ttype), "dims": t.dims, "bytes": t.len}))
            .collect();
        let meta: serde_json::Map<_, _> = g.metadata.iter().map(|(k, v)| (k.clone(), v.summary().into())).collect();
        let config = config.as_ref().map(|c| serde_json::to_value(c).unwrap()).unwrap_or_else(|e| e.to_string().into());
        println!(
            "{}",
            serde_json::json!({"version": g.version, "metadata": meta, "config": config, "tensors": tensors})
        );
        return Ok(());
    }
    println!(
        "GGUF v{}, {} metadata keys, {} tensors, {} bytes",
        g.version,
        g.metadata.len(),
        g.tensors.len(),
        bytes.len()
    );
    match config {
        Ok(c) => println!("model: {c:?}"),
        Err(e) => println!("model: not loadable: {e}"),
    }
    for (k, v) in &g.metadata {
        println!("  {k:<45} {}", v.summary());
    }
    let mut by_type = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for t in &g.tensors {
        let e = by_type.entry(format!("{:?}", t.ttype)).or_default();
        e.0 += 1;
        e.1 += t.len;
    }
    for (ty, (n, b)) in by_type {
        println!("  {n:>4} tensors of type {ty:<5} {:>8.1} MB", b as f64 / 1e6);
    }
    if args.tensors {
        for t in &g.tensors {
            println!("  {:<32} {:<5} {:?}", t.name, format!("{:?}", t.ttype), t.dims);
        }
    }
    Ok(())
}
