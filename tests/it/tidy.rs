//! Repository checks: the blocks of ARCHITECTURE.md that are written from the code (the
//! crate graph, the count of `unsafe` code) are what the code gives today.
//!
//! Each block sits between `<!-- begin generated: NAME -->` and `<!-- end generated: NAME
//! -->`. When the code changes, `HDGAN_BLESS=1 cargo test -p hdgan-tests --test it tidy`
//! rewrites the blocks; review the diff (and the prose around them) before committing.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Checks that ARCHITECTURE.md's block `name` is `text`; with `HDGAN_BLESS=1` rewrites it
/// instead.
fn ensure_generated(name: &str, text: &str) {
    let path = repo().join("ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = format!("<!-- begin generated: {name} -->\n");
    let end = format!("<!-- end generated: {name} -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no line `{}`", begin.trim_end()))
        + begin.len();
    let stop = start
        + doc[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("ARCHITECTURE.md has no line `{end}`"));
    if doc[start..stop] == *text {
        return;
    }
    if std::env::var("HDGAN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{text}{}", &doc[..start], &doc[stop..])).unwrap();
        eprintln!("rewrote the `{name}` block of ARCHITECTURE.md");
        return;
    }
    panic!(
        "ARCHITECTURE.md's `{name}` block is not what the code gives.\n\
         --- in ARCHITECTURE.md:\n{}--- from the code:\n{text}---\n\
         Run `HDGAN_BLESS=1 cargo test -p hdgan-tests --test it tidy` to rewrite it, then \
         check the prose around it.",
        &doc[start..stop]
    );
}

/// The workspace's packages and, per package, its normal (and build) dependencies and its
/// dev-dependencies inside the workspace, from `cargo metadata`.
type Graph = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let mut graph = Graph::new();
    for p in packages {
        let (mut normal, mut dev) = (BTreeSet::new(), BTreeSet::new());
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            if !names.contains(dep) {
                continue;
            }
            match d["kind"].as_str() {
                Some("dev") => dev.insert(dep.to_owned()),
                _ => normal.insert(dep.to_owned()),
            };
        }
        dev.retain(|d| !normal.contains(d));
        graph.insert(p["name"].as_str().unwrap().to_owned(), (normal, dev));
    }
    graph
}

/// The crate graph as text: one line per package, lowest layer first. After `->` the
/// dependencies not reached through another dependency (the edges of the drawing), in
/// parentheses the direct dependencies that are also reached through another one.
fn crate_graph_text(graph: &Graph) -> String {
    let deps = |p: &str| -> BTreeSet<String> {
        let (n, d) = &graph[p];
        n.union(d).cloned().collect()
    };
    fn reach(graph: &Graph, from: &str, seen: &mut BTreeSet<String>) {
        for d in &graph[from].0 {
            if seen.insert(d.clone()) {
                reach(graph, d, seen);
            }
        }
    }
    fn depth(graph: &Graph, p: &str) -> usize {
        let (n, d) = &graph[p];
        n.union(d).map(|q| depth(graph, q) + 1).max().unwrap_or(0)
    }
    let short = |p: &str| p.strip_prefix("hdgan-").unwrap_or(p).to_owned();
    let mut order: Vec<&String> = graph.keys().collect();
    order.sort_by_key(|p| (depth(graph, p), p.as_str()));
    let width = order.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut out = String::from("```text\n");
    for p in order {
        let direct = deps(p);
        let mut implied = BTreeSet::new();
        for d in &direct {
            reach(graph, d, &mut implied);
        }
        let drawn: Vec<String> = direct
            .iter()
            .filter(|d| !implied.contains(*d))
            .map(|d| short(d))
            .collect();
        let also: Vec<String> = direct
            .iter()
            .filter(|d| implied.contains(*d))
            .map(|d| short(d))
            .collect();
        let mut line = format!("{p:width$}");
        if !drawn.is_empty() {
            line += &format!(" -> {}", drawn.join(", "));
        }
        if !also.is_empty() {
            line += &format!("   (also {})", also.join(", "));
        }
        if graph[p].0.is_empty() && !graph[p].1.is_empty() {
            line += "   [dev-dependencies]";
        }
        out += line.trim_end();
        out += "\n";
    }
    out + "```\n"
}

/// ARCHITECTURE.md's crate graph is the workspace's: every package, every dependency
/// between workspace packages in the Cargo.toml files.
#[test]
fn architecture_draws_the_crate_graph() {
    let graph = workspace_graph();
    assert!(graph.len() >= 12, "{} packages", graph.len());
    // The edges the drawing must show (issue 28).
    for (from, to) in [
        ("hdgan-stability", "hdgan-macro-ode"),
        ("hdgan-pde-measure", "hdgan-micro-sim"),
        ("hdgan-data", "hdgan-micro-sim"),
    ] {
        assert!(graph[from].0.contains(to), "{from} -> {to}");
    }
    // Nothing depends on the packages at the top.
    let top = [
        "hdgan-cli",
        "hdgan-py",
        "xtask",
        "hdgan-benches",
        "hdgan-tests",
    ];
    for (p, (normal, dev)) in &graph {
        for t in top {
            assert!(
                !normal.contains(t) && !dev.contains(t),
                "{p} depends on {t}"
            );
        }
    }
    ensure_generated("crate-graph", &crate_graph_text(&graph));
}

/// Every `.rs` file of the repository outside `target/`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// `text` with comments and the contents of string literals blanked (approximately: enough
/// for the words of this repository's code).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push(' ');
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        '\n' => out.push('\n'),
                        _ => {}
                    }
                }
            }
            // A char literal holding a quote.
            '\'' if chars.peek() == Some(&'"') => {
                chars.next();
                chars.next();
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    out
}

/// `unsafe` blocks, and `unsafe` fns (impls, traits, extern blocks), in `text`.
fn count_unsafe(text: &str) -> (usize, usize) {
    let code = code_only(text);
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let (mut blocks, mut items) = (0, 0);
    for (i, _) in code.match_indices("unsafe") {
        let (before, after) = (&code[..i], &code[i + "unsafe".len()..]);
        if before.ends_with(ident) || after.starts_with(ident) {
            continue;
        }
        if after.trim_start().starts_with('{') {
            blocks += 1;
        } else {
            items += 1;
        }
    }
    (blocks, items)
}

/// ARCHITECTURE.md's "Unsafe code" counts every `unsafe` of the repository, file by file:
/// a new block (or one removed) fails here until the inventory says what it does and why
/// it is sound.
#[test]
fn architecture_counts_the_unsafe_code() {
    let root = repo();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = String::from("| file | `unsafe` blocks | `unsafe fn`s |\n|---|---|---|\n");
    for f in files {
        let (blocks, items) = count_unsafe(&std::fs::read_to_string(&f).unwrap());
        if blocks + items > 0 {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out += &format!("| `{rel}` | {blocks} | {items} |\n");
        }
    }
    ensure_generated("unsafe-count", &out);
}

#[test]
fn unsafe_is_counted_in_code_only() {
    let text = "unsafe { a() } // unsafe {\n/// unsafe fn\nlet s = \"unsafe {\\\" unsafe\";\n\
                let q = '\"'; unsafe fn f() {}\n#[allow(unsafe_code)] unsafe_x; x_unsafe {}\n";
    assert_eq!(count_unsafe(text), (1, 1));
}
