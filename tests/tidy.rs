//! The invariants ARCHITECTURE.md states about the code itself, checked on the source
//! tree: the core depends on no concurrency runtime, never sleeps and reads the clock only
//! where it waits on external processes; no source file is over 600 lines without a
//! reason written at its top; no two files of a crate import each other, directly or
//! through others.
//!
//! These read files as text: they are a tripwire for a newcomer's change, not a parser.
//! Test code (`#[cfg(test)]` sections and `tests.rs` files) is not held to the runtime
//! rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest a source file may be without saying why at its top.
const MAX_LINES: usize = 600;

/// What a file over [`MAX_LINES`] must say in its first lines to be allowed.
const LENGTH_REASON: &str = "Longer than 600 lines because";

/// The one file of the core allowed to read the clock: it bounds every wait on an
/// external process (timeouts, the settle grace).
const CLOCK_READER: &str = "src/function/command/wait.rs";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether the whole file is test code.
fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
            && path.starts_with(root().join("src"))
}

/// The file's code before its first `#[cfg(test)]`, without `//` comments.
fn library_code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        let without_comment = match line.find("//") {
            // A `//` inside a string literal is rare in the patterns checked here; a
            // line is cut at its first `//` only when no quote precedes it.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

#[test]
fn the_core_depends_on_no_concurrency_runtime() {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut in_dependencies = false;
    let mut offending = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies
            && ["actix", "tokio", "crossbeam"]
                .iter()
                .any(|name| line.starts_with(name))
        {
            offending.push(line.to_string());
        }
    }
    assert!(
        offending.is_empty(),
        "the core (Cargo.toml [dependencies]) must not depend on {offending:?}"
    );
    let mut uses = Vec::new();
    for path in rust_files(&root().join("src")) {
        let code = library_code(&path);
        for name in ["actix", "tokio", "crossbeam"] {
            if code.contains(&format!("{name}::")) || code.contains(&format!("{name}_")) {
                uses.push(format!("{} uses {name}", relative(&path)));
            }
        }
    }
    assert!(uses.is_empty(), "{uses:#?}");
}

#[test]
fn the_core_never_sleeps_and_reads_the_clock_only_to_bound_commands() {
    let mut found = Vec::new();
    for path in rust_files(&root().join("src")) {
        if is_test_file(&path) {
            continue;
        }
        let name = relative(&path);
        let code = library_code(&path);
        for (number, line) in code.lines().enumerate() {
            let at = format!("{name}:{}", number + 1);
            if line.contains("sleep(") {
                found.push(format!("{at} sleeps: {}", line.trim()));
            }
            let reads_clock = ["Instant::now", "SystemTime", "UNIX_EPOCH"]
                .iter()
                .any(|p| line.contains(p));
            if reads_clock && !name.starts_with(CLOCK_READER) {
                found.push(format!("{at} reads the clock: {}", line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn no_source_file_is_over_600_lines_without_a_reason() {
    let mut long = Vec::new();
    for dir in ["src", "actors/src"] {
        for path in rust_files(&root().join(dir)) {
            let text = fs::read_to_string(&path).unwrap();
            let lines = text.lines().count();
            let head: String = text.lines().take(10).collect::<Vec<_>>().join("\n");
            if lines > MAX_LINES && !head.contains(LENGTH_REASON) {
                long.push(format!("{}: {lines} lines", relative(&path)));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these by concept, or say at their top why not (`{LENGTH_REASON} …`): \
         {long:#?}"
    );
}

/// A crate's files by module path (`[]` is the crate root).
struct Crate {
    modules: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    /// The crate whose root file is `root_file`; `dir` is the folder of its modules.
    fn read(root_file: &Path, dir: &Path, skip: &[PathBuf]) -> Crate {
        let mut modules = BTreeMap::new();
        modules.insert(Vec::new(), root_file.to_path_buf());
        for path in rust_files(dir) {
            if path == root_file || is_test_file(&path) || skip.iter().any(|s| path.starts_with(s))
            {
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let file = parts.pop().unwrap();
            if file != "mod.rs" {
                parts.push(file.trim_end_matches(".rs").to_string());
            }
            modules.insert(parts, path);
        }
        Crate { modules }
    }

    /// The deepest module that the path `segments` (already absolute) names: its path
    /// and its file.
    fn resolve<'a>(&self, segments: &'a [String]) -> Option<(&'a [String], &PathBuf)> {
        (1..=segments.len())
            .rev()
            .find_map(|n| Some((&segments[..n], self.modules.get(&segments[..n])?)))
    }

    /// The files each file uses items of, its own descendants excluded (declaring and
    /// re-exporting children is structure, not dependence).
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut edges = BTreeMap::new();
        for (module, path) in &self.modules {
            let code = library_code(path);
            let mut targets = BTreeSet::new();
            for used in paths_in(&code) {
                let Some(absolute) = absolute(module, &used) else {
                    continue;
                };
                if let Some((target_module, target)) = self.resolve(&absolute) {
                    let is_descendant = target_module.starts_with(module);
                    if target != path && !is_descendant {
                        targets.insert(target.clone());
                    }
                }
            }
            edges.insert(path.clone(), targets);
        }
        edges
    }
}

/// `crate::…`, `super::…` and `self::…` paths in `code`, with `use` groups
/// (`a::{b, c::d}`) expanded; each as its segments.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        if starts_word
            && (rest.starts_with("crate::")
                || rest.starts_with("super::")
                || rest.starts_with("self::"))
        {
            let (paths, end) = parse_path(&bytes, i);
            out.extend(paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses a path (with `{…}` groups) starting at `start`; returns its expansions and the
/// index after it.
fn parse_path(chars: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut word = String::new();
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            i += 1;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            prefix.push(std::mem::take(&mut word));
            i += 2;
            while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            if chars.get(i) == Some(&'{') {
                let mut out = Vec::new();
                i += 1;
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    match chars.get(i) {
                        None => return (out, i),
                        Some('}') => return (out, i + 1),
                        _ => {}
                    }
                    let (inner, end) = parse_path(chars, i);
                    for tail in inner {
                        let mut full = prefix.clone();
                        full.extend(tail);
                        out.push(full);
                    }
                    i = end.max(i + 1);
                }
            }
        } else {
            break;
        }
    }
    if !word.is_empty() {
        prefix.push(word);
    }
    (vec![prefix], i)
}

/// `used` made absolute from the module `module`.
fn absolute(module: &[String], used: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = module.to_vec();
    let mut segments = used.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            base.clear();
            segments.next();
        }
        Some("self") => {
            segments.next();
        }
        Some("super") => {
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                base.pop()?;
            }
        }
        _ => return None,
    }
    base.extend(segments.cloned());
    Some(base)
}

/// One cycle in `edges`, as the files around it, if there is one.
fn find_cycle(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &PathBuf,
        edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        marks: &mut BTreeMap<PathBuf, Mark>,
        path: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|p| p == node).unwrap();
                return Some(path[from..].to_vec());
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let root = root();
    let crates = [
        Crate::read(
            &root.join("src/lib.rs"),
            &root.join("src"),
            &[root.join("src/bin")],
        ),
        Crate::read(
            &root.join("actors/src/lib.rs"),
            &root.join("actors/src"),
            &[root.join("actors/src/bin")],
        ),
        Crate::read(
            &root.join("actors/src/bin/orcapod/main.rs"),
            &root.join("actors/src/bin/orcapod"),
            &[],
        ),
    ];
    let mut cycles = Vec::new();
    for krate in &crates {
        let mut edges = krate.edges();
        // Report every cycle: remove one edge of each found until none is left.
        while let Some(cycle) = find_cycle(&edges) {
            let names: Vec<String> = cycle.iter().map(|p| relative(p)).collect();
            cycles.push(format!("{} → {}", names.join(" → "), names[0]));
            let (from, to) = (&cycle[0], &cycle[1 % cycle.len()]);
            edges.get_mut(from).unwrap().remove(to);
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other (move what they share to its own module): \
         {cycles:#?}"
    );
}

#[test]
fn the_path_reader_expands_use_groups() {
    let code = "use crate::a::{b::C, d, e::{f, g::H}};\nlet x = super::z::Y;";
    let paths: Vec<String> = paths_in(code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "crate::a::b::C",
            "crate::a::d",
            "crate::a::e::f",
            "crate::a::e::g::H",
            "super::z::Y"
        ]
    );
}
