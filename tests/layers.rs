//! The code map's promises, checked: no source file over 500 lines, and no
//! import cycle between the files of `src/` (each file imports only from
//! files below it: see `src/scheduler/mod.rs` for the layers).
//!
//! Imports are read from the text: every `crate::`, `super::` and `self::`
//! path (with `{a, b}` groups expanded) outside comments, resolved to the
//! file that defines it, following `pub use` re-exports. An `impl` block
//! may live above its type (it needs no import of the file it extends).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("scheduler::worker", "" for lib.rs) -> source text with
/// comments removed.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().with_extension("");
                let mut module = rel.to_str().unwrap().replace('/', "::");
                if module == "lib" {
                    module.clear();
                } else if let Some(m) = module.strip_suffix("::mod") {
                    module = m.to_string();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String = text
                    .lines()
                    .map(|l| l.split("//").next().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(module, code);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// Every path starting at `crate`, `super` or `self` in `code`, with
/// `{...}` groups expanded into one path per leaf.
fn paths(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| code[i..].starts_with(**p));
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        match starts {
            Some(_) if boundary => {
                let (path, end) = read_path(code, i);
                out.extend(path);
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Read the path at `start`, expanding groups; returns the leaves and the
/// index after it.
fn read_path(code: &str, start: usize) -> (Vec<String>, usize) {
    let bytes = code.as_bytes();
    let mut i = start;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
    {
        i += 1;
    }
    let prefix = code[start..i].trim_end_matches(':').to_string();
    if i < bytes.len() && bytes[i] == b'{' && code[start..i].ends_with("::") {
        // A group: split its top-level items.
        let mut depth = 0;
        let mut item_start = i + 1;
        let mut leaves = Vec::new();
        let mut j = i;
        while j < bytes.len() {
            match bytes[j] {
                b'{' => depth += 1,
                b'}' | b',' if depth == 1 => {
                    let item = code[item_start..j].trim();
                    let item = item.split(" as ").next().unwrap().trim();
                    if item == "self" {
                        leaves.push(prefix.clone());
                    } else if !item.is_empty() {
                        let full = format!("{prefix}::{item}");
                        let (inner, _) = read_path(&full, 0);
                        leaves.extend(inner);
                    }
                    item_start = j + 1;
                    if bytes[j] == b'}' {
                        return (leaves, j + 1);
                    }
                }
                b'}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        return (leaves, j);
    }
    (vec![prefix], i)
}

/// The module a path names (the longest prefix that is a file), following
/// re-exports; `None` for paths outside `src/`.
fn resolve(
    from: &str,
    path: &str,
    files: &BTreeSet<String>,
    reexports: &BTreeMap<String, BTreeMap<String, String>>,
    depth: u32,
) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<String> = Vec::new();
    match parts[0] {
        "crate" => {
            parts.remove(0);
        }
        "super" | "self" => {
            base = from
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            while let Some(&p) = parts.first() {
                match p {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                parts.remove(0);
            }
        }
        _ => return None,
    }
    for n in (0..=parts.len()).rev() {
        let mut m = base.clone();
        m.extend(parts[..n].iter().map(|s| s.to_string()));
        let m = m.join("::");
        if files.contains(&m) {
            if let Some(name) = parts.get(n)
                && let Some(target) = reexports.get(&m).and_then(|r| r.get(*name))
                && depth < 8
                && let Some(r) = resolve(&m, target, files, reexports, depth + 1)
            {
                return Some(r);
            }
            return Some(m);
        }
    }
    None
}

#[test]
fn no_source_file_is_over_500_lines() {
    fn walk(dir: &Path, long: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, long);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 500 {
                    long.push(format!("{} ({lines} lines)", path.display()));
                }
            }
        }
    }
    let mut long = Vec::new();
    for dir in ["src", "tests", "benches", "examples", "workloads/src"] {
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut long);
    }
    assert!(long.is_empty(), "{long:?}");
}

#[test]
fn no_import_cycles_between_source_files() {
    let src = sources();
    let files: BTreeSet<String> = src.keys().cloned().collect();
    // Re-exports: module -> name -> the path it re-exports.
    let mut reexports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (m, code) in &src {
        for stmt in code.split(';') {
            let stmt = stmt.trim();
            let Some(rest) = stmt.strip_prefix("pub") else {
                continue;
            };
            let rest = rest.trim_start();
            let rest = if rest.starts_with('(') {
                &rest[rest.find(')').unwrap() + 1..]
            } else {
                rest
            };
            let Some(target) = rest.trim_start().strip_prefix("use ") else {
                continue;
            };
            for leaf in paths(target.trim()) {
                let name = leaf.rsplit("::").next().unwrap().to_string();
                reexports.entry(m.clone()).or_default().insert(name, leaf);
            }
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &src {
        let e = edges.entry(m.clone()).or_default();
        for p in paths(code) {
            if let Some(to) = resolve(m, &p, &files, &reexports, 0)
                && &to != m
                && !to.is_empty()
                && !m.starts_with(&format!("{to}::"))
            {
                e.insert(to);
            }
        }
    }
    // Tarjan's strongly connected components.
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        cycles: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.edges[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    self.cycles.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        cycles: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    assert!(
        t.cycles.is_empty(),
        "files importing each other: {:?}",
        t.cycles
    );
    // The checker sees the imports it should: the loop imports the state.
    assert!(edges["scheduler::worker_loop"].contains("scheduler::worker"));
    assert!(edges["sync::channel::state"].contains("scheduler::waker"));
}
