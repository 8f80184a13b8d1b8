//! The source tree's shape: which file imports which. A walk of every `use` and path
//! (`crate::`, `super::`, a child module's name) in each file of `src/`, outside its unit
//! tests and comments, makes a graph of files; no two files may reach each other through
//! it. A `pub use` of a module's own children is its table of contents, not a use: a path
//! through it counts as a use of the file that defines the item. The crate's root
//! (`lib.rs`, a binary's `main.rs`) only declares modules: no file depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate's files by module path (`sync::drain`; the root is ``).
fn modules(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root");
            if skip.iter().any(|s| rel.starts_with(s)) {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.insert(module_path(rel), code_of(&path));
            }
        }
    }
    in_the_build(out)
}

/// The modules their parents declare outside what only tests build (`#[cfg(test)] mod
/// stand;` is not), and the root.
fn in_the_build(files: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let declared = |m: &str| -> bool {
        let mut at = String::new();
        m.split("::").all(|part| {
            let ok = files
                .get(&at)
                .is_some_and(|code| declared_children(code).iter().any(|c| c == part));
            at = if at.is_empty() {
                part.to_string()
            } else {
                format!("{at}::{part}")
            };
            ok
        })
    };
    (files.iter())
        .filter(|(m, _)| m.is_empty() || declared(m))
        .map(|(m, c)| (m.clone(), c.clone()))
        .collect()
}

fn module_path(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('/', "::");
    let s = s.strip_suffix("::mod").unwrap_or(&s).to_string();
    if s == "lib" || s == "main" {
        String::new()
    } else {
        s
    }
}

fn code_of(path: &PathBuf) -> String {
    code(&std::fs::read_to_string(path).expect("source"))
}

/// A file's code without its comments and what only its tests build.
fn code(text: &str) -> String {
    let text: String = (text.lines())
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    without_test_items(&text)
}

/// The code with each `#[cfg(test)]` item cut: up to its `;`, or its braces' end.
fn without_test_items(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match item.find(['{', ';']) {
            Some(i) if item.as_bytes()[i] == b';' => i + 1,
            Some(i) => i + matching_brace(&item[i..]),
            None => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The length of `s` up to and with the brace that closes its first one.
fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return i + 1,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

/// Each `use` statement expanded into whole paths: `a::{b, c::d}` → `a::b`, `a::c::d`;
/// with whether it is a `pub use`.
fn use_paths(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for stmt in code.split(';') {
        // The statement starts a line: the chunk may begin with the end of other code.
        let mut at = 0;
        let start = stmt.split_inclusive('\n').find_map(|line| {
            let here = at;
            at += line.len();
            let t = line.trim_start();
            let vis = ["pub use ", "pub(crate) use ", "pub(super) use ", "use "]
                .into_iter()
                .find(|v| t.starts_with(v))?;
            Some((
                vis.starts_with("pub"),
                here + (line.len() - t.len()) + vis.len(),
            ))
        });
        if let Some((public, from)) = start {
            expand(&stmt[from..], "", &mut |p| out.push((public, p)));
        }
    }
    out
}

fn expand(tree: &str, prefix: &str, out: &mut dyn FnMut(String)) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = format!("{prefix}{}", &tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], &head, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &head, out);
    } else if !tree.is_empty() {
        let item = tree.split(" as ").next().unwrap_or(tree).trim();
        let path = format!("{prefix}{item}");
        out(path.strip_suffix("::self").unwrap_or(&path).to_string());
    }
}

/// Every path of the code that starts at the crate, a parent or a child module.
fn inline_paths(code: &str, children: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts = i == 0 || !(ident(bytes[i - 1]) || bytes[i - 1] == b':');
        let rest = &code[i..];
        let head = ["crate::", "super::", "self::"]
            .iter()
            .any(|h| rest.starts_with(h))
            || children.iter().any(|c| rest.starts_with(&format!("{c}::")));
        if starts && head {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            // `a::{b, c}` is a `use` statement's, read whole by `use_paths`.
            if !rest[end..].starts_with('{') {
                out.push(rest[..end].trim_end_matches(':').to_string());
            }
            i += end.max(1);
        } else {
            i += 1;
        }
    }
    out
}

struct Crate {
    files: BTreeMap<String, String>,
    /// (module, name) → the module a `pub use` of its own subtree takes the name from.
    reexports: BTreeMap<(String, String), String>,
}

impl Crate {
    fn new(files: BTreeMap<String, String>) -> Crate {
        let mut c = Crate {
            files,
            reexports: BTreeMap::new(),
        };
        let found: Vec<((String, String), String)> = (c.files.iter())
            .flat_map(|(m, code)| {
                let m = m.clone();
                let c = &c;
                use_paths(code)
                    .into_iter()
                    .filter(|(public, _)| *public)
                    .filter_map(move |(_, p)| {
                        let target = c.resolve(&m, &p)?;
                        let name = p.rsplit("::").next()?.to_string();
                        within(&target, &m).then(|| ((m.clone(), name), target))
                    })
            })
            .collect();
        c.reexports.extend(found);
        c
    }

    /// The file a path written in `module` names.
    fn resolve(&self, module: &str, path: &str) -> Option<String> {
        let mut parts: Vec<&str> = path.split("::").collect();
        let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        match parts.first() {
            Some(&"crate") => {
                base.clear();
                parts.remove(0);
            }
            Some(&"super") => {
                while parts.first() == Some(&"super") {
                    base.pop();
                    parts.remove(0);
                }
            }
            Some(&"self") => {
                parts.remove(0);
            }
            _ => {}
        }
        let full: Vec<&str> = base.into_iter().chain(parts).collect();
        self.longest(&full)
    }

    fn longest(&self, full: &[&str]) -> Option<String> {
        (0..=full.len()).rev().find_map(|k| {
            let m = full[..k].join("::");
            self.files.contains_key(&m).then(|| match full.get(k) {
                Some(name) => (self.reexports.get(&(m.clone(), name.to_string())))
                    .cloned()
                    .unwrap_or(m),
                None => m,
            })
        })
    }

    /// Which files each file uses.
    fn graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for (m, code) in &self.files {
            let children = declared_children(code);
            let uses = use_paths(code).into_iter().map(|(_, p)| p);
            let mut deps = BTreeSet::new();
            for p in uses.chain(inline_paths(code, &children)) {
                let Some(t) = self.resolve(m, &p) else {
                    continue;
                };
                let table_of_contents = self.reexports.iter().any(|((owner, _), to)| {
                    owner == m
                        && *to == t
                        && use_paths(code).iter().any(|(public, q)| *public && *q == p)
                });
                // The crate's root only declares its modules and names other crates' items.
                if t != *m && !t.is_empty() && !table_of_contents {
                    deps.insert(t);
                }
            }
            out.insert(m.clone(), deps);
        }
        out
    }
}

/// Whether `module` is `owner` or inside it.
fn within(module: &str, owner: &str) -> bool {
    owner.is_empty() || module == owner || module.starts_with(&format!("{owner}::"))
}

fn declared_children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// The groups of files that reach each other.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (m, r) in &reaches {
        if !r.contains(*m) || out.iter().any(|g| g.contains(*m)) {
            continue;
        }
        let group = (r.iter())
            .filter(|o| reaches.get(o).is_some_and(|back| back.contains(*m)))
            .cloned()
            .collect();
        out.push(group);
    }
    out
}

/// The crate's circles; each printed with the uses inside it, to show where to cut.
fn crate_circles(root: &str, skip: &[&str]) -> Vec<BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let graph = Crate::new(modules(&dir, skip)).graph();
    let found = circles(&graph);
    for group in &found {
        eprintln!("circle:");
        for m in group {
            let inside: Vec<&String> = graph[m].iter().filter(|d| group.contains(*d)).collect();
            eprintln!("  {m} -> {inside:?}");
        }
    }
    found
}

#[test]
fn no_two_files_of_src_import_each_other() {
    let mut found = crate_circles("src", &["bin", "main.rs"]);
    found.extend(crate_circles("src/bin/amocrm-sandbox", &[]));
    assert!(found.is_empty(), "files that import each other: {found:#?}");
}

#[test]
fn the_walk_finds_a_circle_through_a_parent_a_child_and_a_table_of_contents() {
    let files = BTreeMap::from([
        (String::new(), "mod a;\nmod b;\n".to_string()),
        (
            "a".to_string(),
            "mod inner;\npub use inner::Thing;\nuse crate::b::f;\n".into(),
        ),
        ("a::inner".to_string(), "pub struct Thing;\n".into()),
        (
            "b".to_string(),
            "pub fn f() { let _ = crate::a::Thing; }\n".into(),
        ),
        (
            "c".to_string(),
            "use super::{a::{self, Thing as T}, b};\n// crate::d\n".into(),
        ),
    ]);
    let files = files
        .into_iter()
        .map(|(m, text)| (m, code(&text)))
        .collect();
    let graph = Crate::new(files).graph();
    assert_eq!(graph["b"], BTreeSet::from(["a::inner".to_string()]));
    assert_eq!(graph["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(
        graph["c"],
        BTreeSet::from(["a".into(), "a::inner".into(), "b".into()])
    );
    assert!(circles(&graph).is_empty(), "{graph:?}");

    let mut looped = graph.clone();
    looped.get_mut("a::inner").unwrap().insert("a".into());
    assert_eq!(
        circles(&looped),
        vec![BTreeSet::from([
            "a".to_string(),
            "a::inner".into(),
            "b".into()
        ])]
    );
}

#[test]
fn the_product_builds_no_sandbox() {
    // The library and the `amocrm` binary name the sandbox only in what their tests build.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut product = modules(&src, &["bin", "main.rs"]);
    product.insert("main".into(), code_of(&src.join("main.rs")));
    assert!(product.len() > 50, "{:?}", product.keys());
    for (m, code) in &product {
        assert!(
            !code.contains("mod sandbox") && !code.contains("sandbox::"),
            "{m} builds or names the sandbox"
        );
    }
}
