//! The crate's layering, as written in the crate docs (`src/lib.rs`, "## Layers"), against every
//! `use crate::…` / `crate::…` path in `src/`: no module imports one of a higher layer, the lab
//! (`attention`) imports only leaves, every top-level module is listed, and no two source files
//! import each other in a cycle.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Layer of each top-level module from the docs; `apart` modules may use layer 0 only.
fn layers() -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let doc = std::fs::read_to_string(format!("{SRC}/lib.rs")).unwrap();
    let section = doc.split("## Layers").nth(1).expect("lib.rs docs have a `## Layers` section");
    let (mut layer_of, mut apart) = (BTreeMap::new(), BTreeSet::new());
    for line in section.lines().skip(1).take_while(|l| l.starts_with("//!")) {
        let line = line.trim_start_matches("//!").trim();
        let Some(rest) = line.strip_prefix("- ") else { continue };
        let (head, names) = rest.split_once(':').unwrap_or((rest, ""));
        let names: Vec<String> =
            names.split('—').next().unwrap().split('`').skip(1).step_by(2).map(String::from).collect();
        if head.starts_with("apart") {
            apart.extend(names.iter().cloned());
            for n in names {
                layer_of.insert(n, 0);
            }
        } else {
            let k: usize = head.split_whitespace().nth(1).unwrap().parse().expect("`layer N`");
            for n in names {
                layer_of.insert(n, k);
            }
        }
    }
    assert!(layer_of.len() >= 10, "could not read the layer list from lib.rs: {layer_of:?}");
    (layer_of, apart)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if !p.ends_with("bin") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source file's module path, e.g. `steer::train` for `src/steer/train.rs`.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(SRC).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).filter(|c| c != "mod").collect();
    parts.join("::")
}

/// Every `crate::a::b` path in the file (outside comments), as module paths `a::b`, expanding
/// `crate::a::{b, c}` groups one level.
fn imports(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + 7..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{' || *c == ',' || *c == ' ')
                .collect();
            let (head, group) = match path.split_once('{') {
                Some((h, g)) => (h.trim_end_matches("::").to_string(), Some(g.to_string())),
                None => (path.trim_end_matches(':').split(' ').next().unwrap().to_string(), None),
            };
            let segs: Vec<&str> = head.split("::").filter(|s| !s.is_empty()).collect();
            if segs.is_empty() {
                continue;
            }
            let module = segs
                .iter()
                .take_while(|s| s.chars().next().is_some_and(|c| c.is_lowercase()))
                .copied()
                .collect::<Vec<_>>();
            if let Some(g) = group.filter(|_| module.len() == segs.len()) {
                for item in g.split(',').map(str::trim).filter(|s| s.chars().next().is_some_and(|c| c.is_lowercase())) {
                    out.insert(format!("{}::{}", module.join("::"), item.split("::").next().unwrap()));
                }
            }
            if !module.is_empty() {
                out.insert(module.join("::"));
            }
        }
    }
    out
}

#[test]
fn imports_follow_the_documented_layers_without_cycles() {
    let (layer_of, apart) = layers();
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut problems = Vec::new();
    for f in &files {
        let me = module_of(f);
        if me == "lib" {
            continue;
        }
        let top = me.split("::").next().unwrap().to_string();
        let Some(&mine) = layer_of.get(&top) else {
            problems.push(format!("module `{top}` is not in the layer list of lib.rs"));
            continue;
        };
        for dep in imports(f) {
            let dep_top = dep.split("::").next().unwrap().to_string();
            if dep_top == top {
                // Within a module: record the file-level edge for the cycle check.
                let target = (1..=dep.split("::").count())
                    .rev()
                    .map(|n| dep.split("::").take(n).collect::<Vec<_>>().join("::"))
                    .find(|m| modules.contains(m));
                if let Some(t) = target.filter(|t| *t != me) {
                    graph.entry(me.clone()).or_default().insert(t);
                }
                continue;
            }
            let Some(&theirs) = layer_of.get(&dep_top) else {
                problems.push(format!("{me} imports `{dep}`, whose module is not in the layer list"));
                continue;
            };
            if apart.contains(&top) && theirs != 0 {
                problems.push(format!("{me} (apart) imports {dep} (layer {theirs}); it may use only layer 0"));
            } else if theirs > mine || apart.contains(&dep_top) {
                problems.push(format!("{me} (layer {mine}) imports {dep} (layer {theirs}): an upward import"));
            }
            graph.entry(me.clone()).or_default().insert(dep_top);
        }
    }
    // Cycle check over the file-level graph (top-level modules as nodes for cross-module edges).
    fn visit(
        n: &str, g: &BTreeMap<String, BTreeSet<String>>, stack: &mut Vec<String>, done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            return Some(stack[i..].to_vec());
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut Vec::new(), &mut done) {
            problems.push(format!("import cycle: {}", c.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "layering problems:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_import() {
    // The parser on a known line, so a regression in it cannot silently pass everything.
    let dir = std::env::temp_dir().join(format!("steerscope-layering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("x.rs");
    std::fs::write(&f, "use crate::analysis::session::{SweepSession, Split};\nuse crate::model::{pairs::Prepared, Site};\n// use crate::steer::train;\n").unwrap();
    let got = imports(&f);
    assert!(got.contains("analysis::session"), "{got:?}");
    assert!(got.contains("model::pairs") && got.contains("model"), "{got:?}");
    assert!(!got.iter().any(|m| m.starts_with("steer")), "comments are not imports: {got:?}");
    std::fs::remove_dir_all(dir).ok();
}
