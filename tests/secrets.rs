//! Secrets and permissions: no secret in any log (every test's panel is searched when it is
//! dropped, see `support::Panel`; here, that the search finds what it should), owner-only
//! token files and amocrm.conf, SQL that only ever takes its data as parameters, escaped
//! XML on every screen, and plain http to this machine only. With the SQL scan, one more
//! of the tests' own sources: they wait on a state, never for a time and a hope.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::ui::{self, Answer};
use support::{AUTH_CODE, CLIENT_ID, CLIENT_SECRET, Panel, REDIRECT_URI, Sandbox};

const CONF: &str = "etc/amocrm/amocrm.conf";
const TOKENS: [&str; 2] = ["etc/amocrm/access_token", "etc/amocrm/refresh_token"];

fn mode(p: &Panel, rel: &str) -> u32 {
    std::fs::metadata(p.path(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .permissions()
        .mode()
        & 0o777
}

// ---- the log scan ----

#[test]
fn the_log_scan_finds_a_planted_secret_wherever_it_is() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");
    // A database password and a code of the admin's own, besides the test integration's.
    let conf = p
        .read(CONF)
        .replace(
            "path = var/billmgr.db",
            "url = mysql://billmgr:db-pass-93c1f7@127.0.0.1:3306/billmgr",
        )
        .replace("driver = sqlite", "")
        .replace(
            &format!("code = {AUTH_CODE}"),
            "code = admins-own-code-4411",
        );
    p.write(CONF, &conf);
    let out = p.amocrm(&["auth", AUTH_CODE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let access = p.read(TOKENS[0]).trim().to_string();
    let refresh = p.read(TOKENS[1]).trim().to_string();
    let signature = access.rsplit('.').next().expect("a JWT").to_string();

    let secrets = support::known_secrets(p.root());
    for s in [
        CLIENT_SECRET,
        AUTH_CODE,
        "admins-own-code-4411",
        "db-pass-93c1f7",
        &access,
        &refresh,
        &signature,
    ] {
        assert!(
            secrets.iter().any(|k| k == s),
            "{s:.6}… is not searched for"
        );
    }
    assert!(secrets.iter().all(|s| s.len() >= support::SHORTEST_SECRET));

    // What the module wrote so far is clean (the masked form is no leak).
    assert_eq!(
        support::secret_leaks(p.root(), &secrets),
        Vec::<String>::new()
    );
    let clean = p.read("var/amocrm_action.log");
    std::fs::write(p.path("var/amocrm_other.log"), "x *** y\n").expect("write");
    assert!(support::secret_leaks(p.root(), &secrets).is_empty());

    // Each secret planted in a log, alone or inside other text, is found at its line;
    // files that are not logs are not searched.
    for (i, s) in secrets.iter().enumerate() {
        let planted = format!("{clean}Nov 21 19:06:00 [1] amocrm DEBUG x{s}y\n");
        let log = if i % 2 == 0 {
            "var/amocrm_task.log"
        } else {
            "var/amocrm_action.log"
        };
        let before = p.read(log);
        std::fs::write(p.path(log), &planted).expect("plant");
        let leaks = support::secret_leaks(p.root(), &secrets);
        let line = planted.lines().count();
        let at = format!("{}:{line}: ", p.path(log).display());
        assert!(
            leaks.iter().any(|l| l.starts_with(&at)),
            "secret {i} not found at {at}: {leaks:?}"
        );
        assert!(
            leaks.iter().all(|l| !l.contains(s.as_str())),
            "the report shows the secret"
        );
        std::fs::write(p.path(log), before).expect("restore");
    }
    std::fs::write(
        p.path("var/amocrm_state.json"),
        format!("{{\"x\": \"{CLIENT_SECRET}\"}}"),
    )
    .expect("write");
    assert!(support::secret_leaks(p.root(), &secrets).is_empty());
    std::fs::remove_file(p.path("var/amocrm_state.json")).expect("rm");

    // And the scan the whole suite runs when a panel is dropped fails the test.
    let planted = Panel::new();
    planted.write("var/amocrm_task.log", &format!("token {refresh}\n"));
    planted.write(TOKENS[1], &refresh);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(planted)));
    let message = dropped.expect_err("the drop-time scan passed a planted token");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("a secret reached a log") && text.contains("amocrm_task.log:1:"),
        "{text}"
    );
    assert!(!text.contains(&refresh), "the failure shows the secret");
}

// ---- file modes ----

/// Runs the binary with umask 000, so that only the mode it asks for protects a file.
fn run_open_umask(p: &Panel, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(support::AMOCRM);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MGR_ROOT", p.root())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: umask is async-signal-safe and only changes the child's mask.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    support::run_with_timeout(cmd, stdin, Duration::from_secs(120))
}

/// The settings form submitted as the panel sends it, with `over` changed.
fn save_settings(p: &Panel, over: &[(&str, &str)]) -> Answer {
    let opened = p.call("amocrm.settings", 29, &[]);
    let mut params: Vec<(String, String)> = opened
        .values
        .iter()
        .filter(|(k, _)| {
            [
                "url",
                "client_id",
                "redirect_uri",
                "enabled",
                "batch_size",
                "rate_limit",
                "update",
                "dedup",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (format!("PARAM_{k}"), v.clone()))
        .collect();
    params.push(("PARAM_sok".into(), "ok".into()));
    for (k, v) in over {
        params.retain(|(pk, _)| *pk != format!("PARAM_{k}"));
        params.push((format!("PARAM_{k}"), v.to_string()));
    }
    let mut env: Vec<(&str, &str)> = vec![
        ("EVENT_TYPE", "action"),
        ("PARAM_func", "amocrm.settings"),
        ("AUTH_USER", "admin"),
        ("AUTH_LEVEL", "29"),
    ];
    env.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = run_open_umask(
        p,
        &[],
        &env,
        ui::panel_doc("amocrm.settings", "en").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ui::parse(&String::from_utf8(out.stdout).expect("UTF-8"))
}

#[test]
fn tokens_and_settings_are_owner_only_after_auth_and_after_saving() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");

    // `amocrm auth`, under a umask that would leave the files world-readable.
    let out = run_open_umask(&p, &["auth", AUTH_CODE], &[], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in TOKENS.iter().chain([&CONF]) {
        assert_eq!(mode(&p, f), 0o600, "{f} after auth");
    }

    // A token refresh rewrites them.
    let (status, _) = sandbox.post_json(
        "/_sandbox/faults",
        &serde_json::json!({"expire_tokens": true}),
    );
    assert_eq!(status, 200);
    let before = p.read(TOKENS[0]);
    let out = run_open_umask(&p, &["status"], &[], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ne!(p.read(TOKENS[0]), before, "the tokens were refreshed");
    for f in TOKENS {
        assert_eq!(mode(&p, f), 0o600, "{f} after a refresh");
    }

    // amocrm.conf left readable by others: saving the settings makes it owner-only again,
    // and so are the tokens a new code brings.
    std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for f in TOKENS {
        std::fs::remove_file(p.path(f)).expect("rm token");
    }
    let (status, body) = sandbox.post_json(
        "/_sandbox/code",
        &serde_json::json!({"code": "def502-second-code-77a1"}),
    );
    assert_eq!(status, 200, "{body}");
    let a = save_settings(
        &p,
        &[("batch_size", "40"), ("code", "def502-second-code-77a1")],
    );
    assert!(a.error.is_none(), "{}", a.raw);
    assert!(p.read(CONF).contains("batch_size = 40"));
    for f in TOKENS.iter().chain([&CONF]) {
        assert_eq!(mode(&p, f), 0o600, "{f} after saving the settings");
    }
    // A new secret, saved: still owner-only, and never shown or logged.
    std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o664)).expect("chmod");
    let a = save_settings(&p, &[("client_secret", "a-new-secret-0b7d2e")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    assert_eq!(mode(&p, CONF), 0o600);
    assert!(
        !p.call("amocrm.settings", 29, &[])
            .raw
            .contains("a-new-secret-0b7d2e")
    );
    assert!(p.read(CONF).contains("client_secret = a-new-secret-0b7d2e"));
}

// ---- SQL ----

/// What may be interpolated into SQL text under src/db, file by file, and why it is safe.
/// Anything else (a value, a name from input) must be a `?` parameter. Every entry must
/// be used: the list says exactly what the code does.
const SQL_IDENTIFIERS: &[(&str, &[&str])] = &[
    // `table`: one of the panel's tables the module reads, always a literal at the call.
    // `kind`: EntityKind's Display, `account` / `profile` / `item`; `column`: the column
    // a batch is read by (`id`, `account`, `item`), a literal at the call.
    (
        "entities.rs",
        &["table", "kind", "column", "columns", "test"],
    ),
    // `table` and `kind.link_table()`: EntityKind::link_table(), three literals; `lock`:
    // " FOR UPDATE" or "".
    ("kept.rs", &["table"]),
    ("links.rs", &["table", "lock", "kind.link_table()", "test"]),
    // `lock` as above; `guard`: " AND state = ?" or ""; `filter`: "" or "WHERE state IN
    // (?, …)"; INFO_COLUMNS: a constant column list.
    ("queue.rs", &["lock", "guard", "filter", "INFO_COLUMNS"]),
    // `table`: EntityKind::link_table() or "amocrm_queue"; `col` and `ty`: a constant list
    // of column names and types.
    // `index`: "INDEXED BY " or "FORCE INDEX (" and PRUNE_INDEX, the queue's index name
    // (a constant).
    // `id` and `keys`: the posted table's id column and keys for the dialect, literals;
    // POSTED_COLUMNS: a constant column list.
    (
        "schema.rs",
        &[
            "table",
            "col",
            "ty",
            "index",
            "PRUNE_INDEX",
            "id",
            "keys",
            "POSTED_COLUMNS",
        ],
    ),
    // COLUMNS: a constant column list.
    ("posted.rs", &["COLUMNS"]),
    // `table`: the table names the callers above pass.
    ("sqlite.rs", &["table"]),
    // `db`: the database name, checked to be letters, digits and _ just before.
    ("mysql.rs", &["db"]),
    // `table`: the sample panel's tables, literals.
    ("sample/mod.rs", &["table"]),
    // The generated panel's table and columns (constants) and rows of placeholders.
    (
        "sample/generate.rs",
        &[
            "self.table",
            "self.columns.join(\", \")",
            "vec![one; rows].join(\", \")",
        ],
    ),
];

/// SQL keywords as the module writes them (upper case): a literal holding one is SQL.
const SQL_WORDS: &[&str] = &[
    "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "ALTER ", "DROP ", "PRAGMA ", "WHERE ",
    " FROM ", "VALUES", " SET ", "LIMIT ", "ORDER BY",
];

/// One `format!` (or `write!`) whose text is SQL: where, and what it interpolates.
#[derive(Debug)]
struct SqlFormat {
    at: String,
    interpolated: Vec<String>,
}

/// `src` with comments blanked (newlines kept), strings and chars untouched.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(' ');
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                out.push(if b[i] == b'\n' { '\n' } else { ' ' });
                i += 1;
            }
            out.push_str("  ");
            i += 2;
        } else if let Some(end) = literal_end(src, i) {
            out.push_str(&src[i..end]);
            i = end;
        } else {
            let c = src[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The end of the string or char literal starting at `i`, if one does.
fn literal_end(src: &str, i: usize) -> Option<usize> {
    let b = src.as_bytes();
    let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    if b[i] == b'r' && !prev_ident {
        let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
        if b.get(i + 1 + hashes) == Some(&b'"') {
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            return src[start..].find(&close).map(|e| start + e + close.len());
        }
        return None;
    }
    if b[i] == b'"' {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
        return Some(b.len());
    }
    if b[i] == b'\'' {
        // A char literal ('x', '\n', '\''), not a lifetime.
        if b.get(i + 1) == Some(&b'\\') {
            return src[i + 2..]
                .find('\'')
                .map(|e| i + 2 + e + 1)
                .filter(|e| *e - i <= 12);
        }
        let c = src[i + 1..].chars().next()?;
        let after = i + 1 + c.len_utf8();
        return (b.get(after) == Some(&b'\'')).then_some(after + 1);
    }
    None
}

/// The text of a string literal as the compiler reads it (escapes and line
/// continuations resolved); `None` when `lit` is not a string literal.
fn literal_text(lit: &str) -> Option<String> {
    let lit = lit.trim();
    if let Some(raw) = lit.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        return Some(raw[hashes + 1..raw.len() - hashes - 1].to_string());
    }
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// The arguments of the call whose `(` is at `open`, split at top-level commas.
fn call_args(src: &str, open: usize) -> Vec<String> {
    let b = src.as_bytes();
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut i = open;
    while i < b.len() {
        if let Some(end) = literal_end(src, i) {
            i = end;
            continue;
        }
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    args.push(src[start..i].trim().to_string());
                    break;
                }
            }
            b',' if depth == 1 => {
                args.push(src[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    args.retain(|a| !a.is_empty());
    args
}

/// What a format string interpolates: named captures, and the arguments `{}` and `{0}` use.
fn interpolations(text: &str, args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = 0;
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        let after = &rest[i + 1..];
        if after.starts_with(rest[i..].chars().next().expect("brace")) {
            rest = &after[1..];
            continue;
        }
        if rest.as_bytes()[i] == b'}' {
            rest = after;
            continue;
        }
        let end = after.find('}').unwrap_or(after.len());
        let name = after[..end].split(':').next().unwrap_or("").trim();
        let expr = if name.is_empty() {
            next += 1;
            args.get(next - 1).cloned()
        } else if let Ok(n) = name.parse::<usize>() {
            args.get(n).cloned()
        } else {
            // `name = expr` among the arguments, else a variable in scope.
            Some(
                args.iter()
                    .find_map(|a| {
                        a.split_once('=')
                            .filter(|(k, _)| k.trim() == name)
                            .map(|(_, v)| v.trim().to_string())
                    })
                    .unwrap_or_else(|| name.to_string()),
            )
        };
        out.push(expr.unwrap_or_else(|| format!("<missing argument for {{{name}}}>")));
        rest = &after[end.min(after.len())..];
    }
    out
}

/// Every `format!`/`write!`/`writeln!` in `src` whose text is SQL, or that interpolates a
/// row of placeholders; and every `push_str` onto a SQL string of something not literal.
fn sql_formats(file: &str, src: &str) -> Vec<SqlFormat> {
    let code = strip_comments(src);
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    let mut found = Vec::new();
    for mac in ["format!(", "write!(", "writeln!("] {
        for (pos, _) in code.match_indices(mac) {
            if pos > 0
                && (code.as_bytes()[pos - 1].is_ascii_alphanumeric()
                    || code.as_bytes()[pos - 1] == b'_')
            {
                continue;
            }
            let mut args = call_args(&code, pos + mac.len() - 1);
            if mac != "format!(" && !args.is_empty() {
                args.remove(0); // the writer
            }
            let Some(text) = args.first().and_then(|a| literal_text(a)) else {
                continue;
            };
            let rest = &args[1..];
            let is_sql = SQL_WORDS.iter().any(|w| text.contains(w))
                || rest.iter().any(|a| a.starts_with("placeholders("));
            if is_sql {
                found.push(SqlFormat {
                    at: format!("{file}:{}", line_of(pos)),
                    interpolated: interpolations(&text, rest),
                });
            }
        }
    }
    for (pos, _) in code.match_indices(".push_str(") {
        let receiver: String = code[..pos]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let args = call_args(&code, pos + ".push_str(".len() - 1);
        let literal = args.first().is_some_and(|a| literal_text(a).is_some());
        if !literal
            && ["sql", "query", "stmt", "statement"]
                .iter()
                .any(|w| receiver.contains(w))
        {
            found.push(SqlFormat {
                at: format!("{file}:{}", line_of(pos)),
                interpolated: args,
            });
        }
    }
    found
}

/// Whether SQL may interpolate `expr` in `file`: a listed identifier, or a row of `?`s.
fn allowed(file: &str, expr: &str) -> bool {
    let expr = expr.trim().trim_start_matches('&');
    if expr.starts_with("placeholders(") && expr.ends_with(')') {
        return true;
    }
    SQL_IDENTIFIERS
        .iter()
        .any(|(f, ids)| *f == file && ids.contains(&expr))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Every interpolation into SQL under src/db that is not allowed, and the allowed
/// identifiers no SQL uses.
fn sql_problems(sources: &[(String, String)]) -> (Vec<String>, Vec<String>, usize) {
    let mut bad = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut statements = 0;
    for (file, src) in sources {
        for f in sql_formats(file, src) {
            statements += 1;
            for expr in &f.interpolated {
                if allowed(file, expr) {
                    used.insert((
                        file.clone(),
                        expr.trim().trim_start_matches('&').to_string(),
                    ));
                } else {
                    bad.push(format!("{}: interpolates {expr}", f.at));
                }
            }
        }
    }
    let unused = SQL_IDENTIFIERS
        .iter()
        .flat_map(|(f, ids)| ids.iter().map(move |i| (f.to_string(), i.to_string())))
        .filter(|k| !used.contains(k))
        .map(|(f, i)| format!("{f}: {i}"))
        .collect();
    (bad, unused, statements)
}

#[test]
fn sql_takes_data_only_as_parameters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("under src/db");
            (
                rel.display().to_string(),
                std::fs::read_to_string(p).expect("source"),
            )
        })
        .collect();
    let (bad, unused, statements) = sql_problems(&sources);
    assert!(
        bad.is_empty(),
        "SQL built from more than identifiers:\n{}",
        bad.join("\n")
    );
    assert!(
        unused.is_empty(),
        "allowed but not used (remove them):\n{}",
        unused.join("\n")
    );
    assert!(
        statements >= 25,
        "only {statements} SQL formats found: is the scan blind?"
    );

    // The scan itself: it sees what it must, through comments, raw strings and
    // continuations, and passes what it should.
    let planted = r####"
        // format!("SELECT {evil} FROM x") in a comment is not code
        fn a(name: &str, table: &str) -> String {
            format!("SELECT * FROM user WHERE name = '{name}'")
        }
        fn b(id: &str) -> String {
            format!(
                "UPDATE amocrm_queue SET state = 'done' \
                 WHERE id = {}",
                id
            )
        }
        fn c(kind: &str) -> String {
            format!(r#"DELETE FROM {t} WHERE x = "{kind}""#, t = "amocrm_queue")
        }
        fn d(sql: &mut String, v: &str) {
            sql.push_str(v);
            sql.push_str(" LIMIT ?");
            let msg = format!("cannot read {v}: no such file");
            write!(sql, "SELECT {}", v);
        }
        fn e(table: &str, n: usize) -> String {
            format!("SELECT * FROM {table} WHERE id IN ({})", placeholders(n))
        }
    "####;
    let (bad, _, statements) = sql_problems(&[("entities.rs".to_string(), planted.to_string())]);
    assert_eq!(
        bad,
        [
            "entities.rs:4: interpolates name",
            "entities.rs:7: interpolates id",
            "entities.rs:14: interpolates \"amocrm_queue\"",
            "entities.rs:20: interpolates v",
            "entities.rs:17: interpolates v",
        ],
        "the scan missed or invented something"
    );
    assert_eq!(statements, 6);
}

// ---- XML ----

/// Markup in every kind of text a screen shows.
const MARKUP: &str = "<b>&amp;\"q\" 'a' ]]>";
/// The same in amocrm.conf, where a double quote and ';' are syntax.
const CONF_MARKUP: &str = "<b>&x 'a' ]]>";

#[test]
fn every_screen_escapes_what_it_shows() {
    let p = Panel::new();
    let conf = format!(
        "[auth]\nurl = http://127.0.0.1:9\nclient_id = {CONF_MARKUP}\nclient_secret = {CLIENT_SECRET}\n\
         redirect_uri = https://billing.example.com/billmgr?a=1&b=<2>\n\n\
         [database]\ndriver = sqlite\npath = var/billmgr.db\n\n[sync]\nenabled = no\n\n\
         [tags.lead]\n{CONF_MARKUP} = item.name contains \"<&>\"\n"
    );
    p.write(CONF, &conf);
    std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p.sample_panel();
    let db = rusqlite::Connection::open(p.path("var/billmgr.db")).expect("db");
    db.execute("UPDATE user SET realname = ?1 WHERE id = 11", [MARKUP])
        .expect("update");
    // The module's tables, then a link to show.
    drop(p.db());
    db.execute(
        "INSERT INTO amocrm_account2contact (billmgr_id, amocrm_id, synced_at, fingerprint) \
         VALUES (2, 5, 0, '')",
        [],
    )
    .expect("link");
    p.event("account.edit", "2", &[]);
    p.event("register", "", &[("PARAM_email", "<x>&y@example.ru")]);
    // The hook's jobs from the spool into the queue table, where the error text goes.
    drop(p.db());
    db.execute(
        "UPDATE amocrm_queue SET state = 'failed', last_error = ?1",
        [format!("amoCRM rejected it: {MARKUP}")],
    )
    .expect("error text");

    let screens = [
        "amocrm.settings",
        "amocrm.connection",
        "amocrm.bindings",
        "amocrm.queue",
        "amocrm.rules",
        "amocrm.export",
    ];
    for func in screens {
        for lang in ["en", "ru"] {
            let a = p.call_as(func, "<admin&>", 29, lang, &[("p_cnt", "1000")]);
            a.assert_complete(func);
            assert!(
                !a.raw.contains(MARKUP),
                "{func}: unescaped markup:\n{}",
                a.raw
            );
        }
    }
    let shown = |func: &str, params: &[(&str, &str)]| {
        let a = p.call(func, 29, params);
        let mut texts: Vec<String> = a.values.values().cloned().collect();
        texts.extend(a.elems.iter().flat_map(|e| e.values().cloned()));
        texts
    };
    let has = |texts: &[String], want: &str| texts.iter().any(|t| t.contains(want));
    assert!(
        has(&shown("amocrm.settings", &[]), CONF_MARKUP),
        "client_id"
    );
    assert!(has(
        &shown("amocrm.bindings", &[]),
        &format!("{MARKUP} (#2)")
    ));
    let queue = shown("amocrm.queue", &[]);
    assert!(has(&queue, &format!("amoCRM rejected it: {MARKUP}")));
    assert!(has(&queue, "<x>&y@example.ru"));
    let rules = shown("amocrm.rules", &[]);
    assert!(
        has(&rules, CONF_MARKUP) && has(&rules, "item.name contains \"<&>\""),
        "{rules:?}"
    );
    // An error message quoting input: escaped too.
    let a = p.call(
        "amocrm.rules.edit",
        29,
        &[("elid", MARKUP), ("sok", "ok"), ("value", MARKUP)],
    );
    assert!(!a.raw.contains(MARKUP), "{}", a.raw);
}

// ---- plain http ----

#[test]
fn plain_http_goes_to_this_machine_only() {
    let p = Panel::new();
    let conf_with = |url: &str| {
        format!(
            "[auth]\nurl = {url}\nclient_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n\
             redirect_uri = {REDIRECT_URI}\n\n[database]\ndriver = sqlite\npath = var/billmgr.db\n"
        )
    };
    let good = [
        "https://example.amocrm.ru",
        "https://example.kommo.com:8443/",
        "http://127.0.0.1:9",
        "http://127.8.9.10:9",
        "http://localhost:9",
        "HTTP://LOCALHOST:9",
        "http://[::1]:9",
    ];
    let bad = [
        "http://example.amocrm.ru",
        "http://10.0.0.1:9",
        "http://[::2]:9",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com",
        "http://127.0.0.1:80@example.com",
        "http://localhost@example.com",
        "http://[::1]@example.com",
        "http://example.com#@127.0.0.1",
        "http://example.com?@127.0.0.1",
        "http://127.0.0.1:9/@example.com",
        "ftp://127.0.0.1",
        "127.0.0.1:9",
    ];
    for url in good.iter().chain(bad.iter()) {
        let ok = good.contains(url);
        // `amocrm check`.
        p.write(CONF, &conf_with(url));
        std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let out = p.amocrm(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if ok {
            assert_eq!(out.status.code(), Some(0), "{url} refused by check: {err}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{url} accepted by check");
            let line = format!("{}:2: [auth] url: ", p.path(CONF).display());
            assert!(err.starts_with(&line), "{url}: {err}");
        }
        // The settings form, from a good file.
        p.write(CONF, &conf_with("https://example.amocrm.ru"));
        let a = save_settings(&p, &[("url", url)]);
        let saved = p
            .read(CONF)
            .contains(&format!("url = {}", url.trim_end_matches('/')));
        if ok {
            assert!(
                a.ok.is_some() && saved,
                "{url} refused by the form: {}",
                a.raw
            );
        } else {
            assert!(
                a.error.is_some() && !saved,
                "{url} accepted by the form: {}",
                a.raw
            );
        }
    }
}

/// The longest pause a test may take outside `support::wait_until`: a poll, not a wait.
const LONGEST_SLEEP_MS: u64 = 100;

/// The milliseconds of `Duration::from_*(LITERAL)`, `None` for anything else.
fn literal_millis(expr: &str) -> Option<u64> {
    let expr = expr.trim().trim_start_matches("std::time::");
    let (unit, rest) = expr.strip_prefix("Duration::from_")?.split_once('(')?;
    let value: f64 = rest
        .strip_suffix(')')?
        .replace('_', "")
        .trim()
        .parse()
        .ok()?;
    let ms = match unit {
        "secs" | "secs_f64" | "secs_f32" => value * 1000.0,
        "millis" => value,
        "micros" => value / 1000.0,
        "nanos" => value / 1_000_000.0,
        _ => return None,
    };
    Some(ms.ceil() as u64)
}

/// Where `needle` starts in `src`, outside string literals.
fn code_positions(src: &str, needle: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < src.len() {
        if let Some(end) = literal_end(src, i) {
            i = end;
        } else {
            if src[i..].starts_with(needle) {
                found.push(i);
            }
            i += src[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// The byte range of the body of `fn name` in `src`, if it has one.
fn fn_body(src: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let start = *code_positions(src, &format!("fn {name}")).first()?;
    let open = start + src[start..].find('{')?;
    let mut depth = 0usize;
    for (i, c) in src.char_indices().skip_while(|(i, _)| *i < open) {
        if literal_end(src, i).is_some() {
            continue;
        }
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(open..i + 1),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Each pause in `src` (comments stripped) that is not a short, literal one: `file:line`
/// and what it sleeps. `exempt`: the range of `wait_until`, whose polls are the tests' one wait.
fn long_sleeps(file: &str, src: &str, exempt: Option<std::ops::Range<usize>>) -> Vec<String> {
    let line = |at: usize| src[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for at in code_positions(src, "thread::sleep") {
        if exempt.as_ref().is_some_and(|r| r.contains(&at)) {
            continue;
        }
        let open = at + "thread::sleep".len();
        let arg = if src[open..].starts_with('(') {
            call_args(src, open).join(", ")
        } else {
            String::from("(imported, not called)")
        };
        if literal_millis(&arg).is_none_or(|ms| ms > LONGEST_SLEEP_MS) {
            found.push(format!("{file}:{}: sleeps {arg}", line(at)));
        }
    }
    found
}

/// `tests/**/*.rs` as (path under tests/, source without comments).
fn test_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let rel = |p: &Path| {
        p.strip_prefix(&root)
            .expect("under tests")
            .display()
            .to_string()
    };
    (files.iter())
        .map(|p| {
            (
                rel(p),
                strip_comments(&std::fs::read_to_string(p).expect("source")),
            )
        })
        .collect()
}

#[test]
fn tests_wait_on_state_not_on_time() {
    let sources = test_sources();
    let mut found = Vec::new();
    let mut exempted = false;
    for (file, src) in &sources {
        let exempt = (file == "support/mod.rs")
            .then(|| fn_body(src, "wait_until"))
            .flatten();
        exempted |= exempt.is_some();
        found.extend(long_sleeps(file, src, exempt));
    }
    assert!(
        exempted,
        "support/mod.rs has no wait_until: is the scan blind?"
    );
    assert!(
        found.is_empty(),
        "a test sleeps more than {LONGEST_SLEEP_MS} ms, or for a time not written out, \
         outside support::wait_until; wait on a state with it instead:\n{}",
        found.join("\n")
    );

    // The scan itself: long, computed and imported sleeps are found through strings and
    // comments; short literal ones and those inside wait_until pass.
    let planted = r#"
        fn wait_until() { std::thread::sleep(Duration::from_secs(9)); }
        fn a() {
            std::thread::sleep(Duration::from_millis(100)); // thread::sleep(from_secs(3))
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            let s = "thread::sleep(Duration::from_secs(5))";
            thread::sleep(Duration::from_secs_f64(0.25));
            std::thread::sleep(Duration::from_millis(dice.between(0, 50)));
            use std::thread::sleep;
        }
    "#;
    let planted = strip_comments(planted);
    let lines: Vec<String> = long_sleeps("t.rs", &planted, fn_body(&planted, "wait_until"))
        .iter()
        .map(|f| f.split(": ").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(lines, ["t.rs:5", "t.rs:7", "t.rs:8", "t.rs:9"]);
    assert_eq!(literal_millis("Duration::from_micros(100_001)"), Some(101));
}
