//! Keeps docs/CONFORMANCE.md honest: every normative statement of MQTT 3.1.1 has exactly one row,
//! in order; every row says whom it binds and names tests or a reason it does not apply; every
//! named test exists as a test function in the file the row names, and that file is compiled into
//! its test binary; an ignored test is only named where the row says so.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The numbered normative statements of MQTT 3.1.1 (OASIS Standard with Errata 01), in order.
const STATEMENT_IDS: &[&str] = &[
    "MQTT-1.5.3-1",
    "MQTT-1.5.3-2",
    "MQTT-1.5.3-3",
    "MQTT-2.2.2-1",
    "MQTT-2.2.2-2",
    "MQTT-2.3.1-1",
    "MQTT-2.3.1-2",
    "MQTT-2.3.1-3",
    "MQTT-2.3.1-4",
    "MQTT-2.3.1-5",
    "MQTT-2.3.1-6",
    "MQTT-2.3.1-7",
    "MQTT-3.1.0-1",
    "MQTT-3.1.0-2",
    "MQTT-3.1.2-1",
    "MQTT-3.1.2-2",
    "MQTT-3.1.2-3",
    "MQTT-3.1.2-4",
    "MQTT-3.1.2-5",
    "MQTT-3.1.2-6",
    "MQTT-3.1.2-7",
    "MQTT-3.1.2-8",
    "MQTT-3.1.2-9",
    "MQTT-3.1.2-10",
    "MQTT-3.1.2-11",
    "MQTT-3.1.2-12",
    "MQTT-3.1.2-13",
    "MQTT-3.1.2-14",
    "MQTT-3.1.2-15",
    "MQTT-3.1.2-16",
    "MQTT-3.1.2-17",
    "MQTT-3.1.2-18",
    "MQTT-3.1.2-19",
    "MQTT-3.1.2-20",
    "MQTT-3.1.2-21",
    "MQTT-3.1.2-22",
    "MQTT-3.1.2-23",
    "MQTT-3.1.2-24",
    "MQTT-3.1.3-1",
    "MQTT-3.1.3-2",
    "MQTT-3.1.3-3",
    "MQTT-3.1.3-4",
    "MQTT-3.1.3-5",
    "MQTT-3.1.3-6",
    "MQTT-3.1.3-7",
    "MQTT-3.1.3-8",
    "MQTT-3.1.3-9",
    "MQTT-3.1.3-10",
    "MQTT-3.1.3-11",
    "MQTT-3.1.4-1",
    "MQTT-3.1.4-2",
    "MQTT-3.1.4-3",
    "MQTT-3.1.4-4",
    "MQTT-3.1.4-5",
    "MQTT-3.2.0-1",
    "MQTT-3.2.2-1",
    "MQTT-3.2.2-2",
    "MQTT-3.2.2-3",
    "MQTT-3.2.2-4",
    "MQTT-3.2.2-5",
    "MQTT-3.2.2-6",
    "MQTT-3.3.1-1",
    "MQTT-3.3.1-2",
    "MQTT-3.3.1-3",
    "MQTT-3.3.1-4",
    "MQTT-3.3.1-5",
    "MQTT-3.3.1-6",
    "MQTT-3.3.1-7",
    "MQTT-3.3.1-8",
    "MQTT-3.3.1-9",
    "MQTT-3.3.1-10",
    "MQTT-3.3.1-11",
    "MQTT-3.3.1-12",
    "MQTT-3.3.2-1",
    "MQTT-3.3.2-2",
    "MQTT-3.3.2-3",
    "MQTT-3.3.4-1",
    "MQTT-3.3.5-1",
    "MQTT-3.3.5-2",
    "MQTT-3.6.1-1",
    "MQTT-3.8.1-1",
    "MQTT-3.8.3-1",
    "MQTT-3.8.3-2",
    "MQTT-3.8.3-3",
    "MQTT-3.8.3-4",
    "MQTT-3.8.4-1",
    "MQTT-3.8.4-2",
    "MQTT-3.8.4-3",
    "MQTT-3.8.4-4",
    "MQTT-3.8.4-5",
    "MQTT-3.8.4-6",
    "MQTT-3.9.3-1",
    "MQTT-3.9.3-2",
    "MQTT-3.10.1-1",
    "MQTT-3.10.3-1",
    "MQTT-3.10.3-2",
    "MQTT-3.10.4-1",
    "MQTT-3.10.4-2",
    "MQTT-3.10.4-3",
    "MQTT-3.10.4-4",
    "MQTT-3.10.4-5",
    "MQTT-3.10.4-6",
    "MQTT-3.12.4-1",
    "MQTT-3.14.1-1",
    "MQTT-3.14.4-1",
    "MQTT-3.14.4-2",
    "MQTT-3.14.4-3",
    "MQTT-4.1.0-1",
    "MQTT-4.1.0-2",
    "MQTT-4.3.1-1",
    "MQTT-4.3.2-1",
    "MQTT-4.3.2-2",
    "MQTT-4.3.3-1",
    "MQTT-4.3.3-2",
    "MQTT-4.4.0-1",
    "MQTT-4.5.0-1",
    "MQTT-4.5.0-2",
    "MQTT-4.6.0-1",
    "MQTT-4.6.0-2",
    "MQTT-4.6.0-3",
    "MQTT-4.6.0-4",
    "MQTT-4.6.0-5",
    "MQTT-4.6.0-6",
    "MQTT-4.7.1-1",
    "MQTT-4.7.1-2",
    "MQTT-4.7.1-3",
    "MQTT-4.7.2-1",
    "MQTT-4.7.3-1",
    "MQTT-4.7.3-2",
    "MQTT-4.7.3-3",
    "MQTT-4.7.3-4",
    "MQTT-4.8.0-1",
    "MQTT-4.8.0-2",
];

/// A reason must say something specific, not just "n/a".
const MIN_REASON_LEN: usize = 20;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Row {
    line: usize,
    id: String,
    statement: String,
    binds: String,
    tests: String,
}

fn table_rows() -> Vec<Row> {
    let path = root().join("docs/CONFORMANCE.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("| MQTT-"))
        .map(|(i, l)| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            assert_eq!(
                cells.len(),
                4,
                "CONFORMANCE.md line {}: expected 4 columns, got {}",
                i + 1,
                cells.len()
            );
            Row {
                line: i + 1,
                id: cells[0].to_owned(),
                statement: cells[1].to_owned(),
                binds: cells[2].to_owned(),
                tests: cells[3].to_owned(),
            }
        })
        .collect()
}

/// The `file::function` references of a tests cell: every backticked item.
fn references(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// `broker::connect::name` names tests/broker/connect.rs, a module of the `broker` test binary
/// (tests/broker.rs); `broker_parking::name` the single-file test binary tests/broker_parking.rs;
/// `src/a/b.rs::name` a source file.
fn split_reference(reference: &str) -> Option<(PathBuf, &str)> {
    let (module, function) = reference.rsplit_once("::")?;
    let identifier = |s: &str| !s.is_empty() && s.chars().all(is_ident_char);
    let path = if module.starts_with("src/") && module.ends_with(".rs") {
        root().join(module)
    } else if let Some((binary, file)) = module.split_once("::") {
        if !identifier(binary) || !identifier(file) {
            return None;
        }
        root().join("tests").join(binary).join(format!("{file}.rs"))
    } else if identifier(module) {
        root().join("tests").join(format!("{module}.rs"))
    } else {
        return None;
    };
    identifier(function).then_some((path, function))
}

/// For a test module tests/<binary>/<file>.rs: whether the binary's root, tests/<binary>.rs,
/// compiles it (`mod <binary> { ... mod <file>; ... }`), so that its tests actually run.
fn compiled_by_its_binary(path: &Path) -> Result<(), String> {
    let Ok(in_tests) = path.strip_prefix(root().join("tests")) else {
        return Ok(()); // a source file under src/
    };
    let binary = in_tests.parent().and_then(Path::to_str).unwrap_or_default();
    if binary.is_empty() {
        return Ok(()); // a single-file test binary: cargo builds every tests/*.rs
    }
    let file = in_tests
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let root_file = root().join("tests").join(format!("{binary}.rs"));
    let source = fs::read_to_string(&root_file)
        .map_err(|e| format!("no test binary {}: {e}", root_file.display()))?;
    let declares = |line: &str| source.lines().any(|l| l.trim() == line);
    if declares(&format!("mod {binary} {{")) && declares(&format!("mod {file};")) {
        Ok(())
    } else {
        Err(format!(
            "{} does not declare `mod {binary} {{ mod {file}; }}`",
            root_file.display()
        ))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Found {
    Test { ignored: bool },
    NotATest,
    Missing,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Byte offsets of `fn name` followed by `(` or `<`, as a whole identifier.
fn fn_definitions(source: &str, name: &str) -> Vec<usize> {
    let needle = format!("fn {name}");
    source
        .match_indices(&needle)
        .map(|(at, _)| at)
        .filter(|&at| {
            let before_ok = source[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !is_ident_char(c));
            let rest = source[at + needle.len()..].trim_start();
            before_ok && (rest.starts_with('(') || rest.starts_with('<'))
        })
        .collect()
}

/// The attribute and doc-comment lines directly above byte offset `at`.
fn attributes_above(source: &str, at: usize) -> Vec<&str> {
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .take_while(|l| l.starts_with("#[") || l.starts_with("//") || l.ends_with(")]"))
        .collect()
}

/// Whether `name` is a test generated by a macro of this file whose body holds `#[test] fn $x`
/// and that is invoked with `name` among its arguments.
fn generated_by_test_macro(source: &str, name: &str) -> bool {
    source.match_indices("macro_rules!").any(|(at, _)| {
        let rest = &source[at + "macro_rules!".len()..];
        let macro_name: String = rest
            .trim_start()
            .chars()
            .take_while(|&c| is_ident_char(c))
            .collect();
        let body_end = rest.find("\n}").unwrap_or(rest.len());
        let body = &rest[..body_end];
        if macro_name.is_empty() || !body.contains("#[test]") || !body.contains("fn $") {
            return false;
        }
        let invocation = format!("{macro_name}!(");
        source.match_indices(&invocation).any(|(start, _)| {
            let args = &source[start + invocation.len()..];
            let args = &args[..args.find(')').unwrap_or(args.len())];
            args.split(|c: char| !is_ident_char(c))
                .any(|word| word == name)
        })
    })
}

fn find_test(source: &str, name: &str) -> Found {
    let definitions = fn_definitions(source, name);
    for &at in &definitions {
        let attributes = attributes_above(source, at);
        if attributes
            .iter()
            .any(|a| *a == "#[test]" || a.ends_with("::test]"))
        {
            let ignored = attributes.iter().any(|a| a.starts_with("#[ignore"));
            return Found::Test { ignored };
        }
    }
    if generated_by_test_macro(source, name) {
        return Found::Test { ignored: false };
    }
    if definitions.is_empty() {
        Found::Missing
    } else {
        Found::NotATest
    }
}

#[test]
fn statement_list_is_well_formed() {
    assert_eq!(STATEMENT_IDS.len(), 133);
    let unique: HashSet<_> = STATEMENT_IDS.iter().collect();
    assert_eq!(
        unique.len(),
        STATEMENT_IDS.len(),
        "duplicate id in STATEMENT_IDS"
    );
    assert_eq!(STATEMENT_IDS.first(), Some(&"MQTT-1.5.3-1"));
    assert_eq!(STATEMENT_IDS.last(), Some(&"MQTT-4.8.0-2"));
}

#[test]
fn every_statement_has_exactly_one_row_in_order() {
    let rows = table_rows();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for row in &rows {
        if let Some(first) = seen.insert(&row.id, row.line) {
            problems.push(format!(
                "{} listed twice (lines {first} and {})",
                row.id, row.line
            ));
        }
        if !STATEMENT_IDS.contains(&row.id.as_str()) {
            problems.push(format!(
                "line {}: {} is not an MQTT 3.1.1 statement",
                row.line, row.id
            ));
        }
    }
    for id in STATEMENT_IDS {
        if !seen.contains_key(id) {
            problems.push(format!("{id} has no row"));
        }
    }
    if problems.is_empty() {
        let order: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        if order != STATEMENT_IDS {
            let at = order.iter().zip(STATEMENT_IDS).position(|(a, b)| a != b);
            problems.push(format!("rows out of specification order at row {at:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "CONFORMANCE.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_row_binds_someone_and_has_tests_or_a_reason() {
    let mut problems = Vec::new();
    for row in table_rows() {
        if !matches!(row.binds.as_str(), "server" | "client" | "both") {
            problems.push(format!(
                "{}: binds {:?}, expected server, client or both",
                row.id, row.binds
            ));
        }
        if row.statement.is_empty() {
            problems.push(format!("{}: no paraphrase", row.id));
        }
        if references(&row.tests).is_empty() {
            let reason = row.tests.strip_prefix("n/a:").map(str::trim);
            if reason.is_none_or(|r| r.len() < MIN_REASON_LEN) {
                problems.push(format!(
                    "{}: neither a test nor an \"n/a: reason\" (at least {MIN_REASON_LEN} characters)",
                    row.id
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "CONFORMANCE.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_named_test_exists() {
    let mut sources: HashMap<PathBuf, Option<String>> = HashMap::new();
    let mut problems = Vec::new();
    for row in table_rows() {
        for reference in references(&row.tests) {
            let Some((path, name)) = split_reference(reference) else {
                problems.push(format!(
                    "{}: `{reference}` is not binary::module::function or binary::function",
                    row.id
                ));
                continue;
            };
            let source = sources
                .entry(path.clone())
                .or_insert_with(|| fs::read_to_string(&path).ok());
            let Some(source) = source else {
                problems.push(format!(
                    "{}: `{reference}`: no file {}",
                    row.id,
                    path.display()
                ));
                continue;
            };
            if let Err(problem) = compiled_by_its_binary(&path) {
                problems.push(format!("{}: `{reference}`: {problem}", row.id));
                continue;
            }
            match find_test(source, name) {
                Found::Test { ignored: false } => {}
                Found::Test { ignored: true } if row.tests.contains("ignored") => {}
                Found::Test { ignored: true } => problems.push(format!(
                    "{}: `{reference}` is #[ignore]d but the row does not say so",
                    row.id
                )),
                Found::NotATest => {
                    problems.push(format!("{}: `{reference}` is not marked #[test]", row.id));
                }
                Found::Missing => {
                    problems.push(format!("{}: `{reference}` does not exist", row.id))
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "CONFORMANCE.md:\n{}",
        problems.join("\n")
    );
}

/// The checker itself: it finds plain, ignored, macro-generated and missing tests.
#[test]
fn checker_recognises_tests() {
    let source = r#"
/// Doc.
#[test]
fn plain() {}

#[test]
#[ignore = "bug: x"]
fn skipped() {}

fn helper() {}

macro_rules! cases {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {}
    )*};
}
cases!(generated, other);
"#;
    assert_eq!(find_test(source, "plain"), Found::Test { ignored: false });
    assert_eq!(find_test(source, "skipped"), Found::Test { ignored: true });
    assert_eq!(find_test(source, "helper"), Found::NotATest);
    assert_eq!(
        find_test(source, "generated"),
        Found::Test { ignored: false }
    );
    assert_eq!(find_test(source, "plai"), Found::Missing);
    assert_eq!(find_test(source, "missing"), Found::Missing);
    assert_eq!(
        references("`a::b`, `src/x.rs::c` (note)"),
        vec!["a::b", "src/x.rs::c"]
    );
    assert_eq!(
        split_reference("broker::connect::plain"),
        Some((root().join("tests/broker/connect.rs"), "plain"))
    );
    assert_eq!(
        split_reference("src/x.rs::c"),
        Some((root().join("src/x.rs"), "c"))
    );
    assert_eq!(
        split_reference("broker_parking::plain"),
        Some((root().join("tests/broker_parking.rs"), "plain"))
    );
    assert_eq!(split_reference("broker::connect::"), None);
    assert_eq!(split_reference("a::b::c::plain"), None);
    assert!(compiled_by_its_binary(&root().join("tests/broker/connect.rs")).is_ok());
    assert!(compiled_by_its_binary(&root().join("tests/broker/unlisted.rs")).is_err());
}
