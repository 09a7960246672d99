//! Keeps docs/CONFORMANCE.md (MQTT 3.1.1) and docs/CONFORMANCE-5.md (MQTT 5.0) honest: every
//! normative statement of the revision has exactly one row, in order; every row says whom it binds
//! and names tests or a reason it does not apply; every named test exists as a test function in
//! the file the row names, and that file is compiled into its test binary; an ignored test is only
//! named where the row says so. The 5.0 table may also mark a statement `open:` (not tested yet),
//! but only if its "Known gaps" section lists it, and that section lists nothing else.

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

/// The numbered normative statements of MQTT 5.0 (OASIS Standard, 7 March 2019), in order.
/// There is no MQTT-2.2.1-1; MQTT-4.2.0-1 is labelled MQTT-4.2-1 in the body of section 4.2.
const STATEMENT_IDS_5: &[&str] = &[
    "MQTT-1.5.4-1",
    "MQTT-1.5.4-2",
    "MQTT-1.5.4-3",
    "MQTT-1.5.5-1",
    "MQTT-1.5.7-1",
    "MQTT-2.1.3-1",
    "MQTT-2.2.1-2",
    "MQTT-2.2.1-3",
    "MQTT-2.2.1-4",
    "MQTT-2.2.1-5",
    "MQTT-2.2.1-6",
    "MQTT-2.2.2-1",
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
    "MQTT-3.1.2-25",
    "MQTT-3.1.2-26",
    "MQTT-3.1.2-27",
    "MQTT-3.1.2-28",
    "MQTT-3.1.2-29",
    "MQTT-3.1.2-30",
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
    "MQTT-3.1.3-12",
    "MQTT-3.1.4-1",
    "MQTT-3.1.4-2",
    "MQTT-3.1.4-3",
    "MQTT-3.1.4-4",
    "MQTT-3.1.4-5",
    "MQTT-3.1.4-6",
    "MQTT-3.2.0-1",
    "MQTT-3.2.0-2",
    "MQTT-3.2.2-1",
    "MQTT-3.2.2-2",
    "MQTT-3.2.2-3",
    "MQTT-3.2.2-4",
    "MQTT-3.2.2-5",
    "MQTT-3.2.2-6",
    "MQTT-3.2.2-7",
    "MQTT-3.2.2-8",
    "MQTT-3.2.2-9",
    "MQTT-3.2.2-10",
    "MQTT-3.2.2-11",
    "MQTT-3.2.2-12",
    "MQTT-3.2.2-13",
    "MQTT-3.2.2-14",
    "MQTT-3.2.2-15",
    "MQTT-3.2.2-16",
    "MQTT-3.2.2-17",
    "MQTT-3.2.2-18",
    "MQTT-3.2.2-19",
    "MQTT-3.2.2-20",
    "MQTT-3.2.2-21",
    "MQTT-3.2.2-22",
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
    "MQTT-3.3.1-13",
    "MQTT-3.3.2-1",
    "MQTT-3.3.2-2",
    "MQTT-3.3.2-3",
    "MQTT-3.3.2-4",
    "MQTT-3.3.2-5",
    "MQTT-3.3.2-6",
    "MQTT-3.3.2-7",
    "MQTT-3.3.2-8",
    "MQTT-3.3.2-9",
    "MQTT-3.3.2-10",
    "MQTT-3.3.2-11",
    "MQTT-3.3.2-12",
    "MQTT-3.3.2-13",
    "MQTT-3.3.2-14",
    "MQTT-3.3.2-15",
    "MQTT-3.3.2-16",
    "MQTT-3.3.2-17",
    "MQTT-3.3.2-18",
    "MQTT-3.3.2-19",
    "MQTT-3.3.2-20",
    "MQTT-3.3.4-1",
    "MQTT-3.3.4-2",
    "MQTT-3.3.4-3",
    "MQTT-3.3.4-4",
    "MQTT-3.3.4-5",
    "MQTT-3.3.4-6",
    "MQTT-3.3.4-7",
    "MQTT-3.3.4-8",
    "MQTT-3.3.4-9",
    "MQTT-3.3.4-10",
    "MQTT-3.4.2-1",
    "MQTT-3.4.2-2",
    "MQTT-3.4.2-3",
    "MQTT-3.5.2-1",
    "MQTT-3.5.2-2",
    "MQTT-3.5.2-3",
    "MQTT-3.6.1-1",
    "MQTT-3.6.2-1",
    "MQTT-3.6.2-2",
    "MQTT-3.6.2-3",
    "MQTT-3.7.2-1",
    "MQTT-3.7.2-2",
    "MQTT-3.7.2-3",
    "MQTT-3.8.1-1",
    "MQTT-3.8.3-1",
    "MQTT-3.8.3-2",
    "MQTT-3.8.3-3",
    "MQTT-3.8.3-4",
    "MQTT-3.8.3-5",
    "MQTT-3.8.4-1",
    "MQTT-3.8.4-2",
    "MQTT-3.8.4-3",
    "MQTT-3.8.4-4",
    "MQTT-3.8.4-5",
    "MQTT-3.8.4-6",
    "MQTT-3.8.4-7",
    "MQTT-3.8.4-8",
    "MQTT-3.9.2-1",
    "MQTT-3.9.2-2",
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
    "MQTT-3.11.2-1",
    "MQTT-3.11.2-2",
    "MQTT-3.11.3-1",
    "MQTT-3.11.3-2",
    "MQTT-3.12.4-1",
    "MQTT-3.14.0-1",
    "MQTT-3.14.1-1",
    "MQTT-3.14.2-1",
    "MQTT-3.14.2-2",
    "MQTT-3.14.2-3",
    "MQTT-3.14.2-4",
    "MQTT-3.14.4-1",
    "MQTT-3.14.4-2",
    "MQTT-3.14.4-3",
    "MQTT-3.15.1-1",
    "MQTT-3.15.2-1",
    "MQTT-3.15.2-2",
    "MQTT-3.15.2-3",
    "MQTT-4.1.0-1",
    "MQTT-4.1.0-2",
    "MQTT-4.2.0-1",
    "MQTT-4.3.1-1",
    "MQTT-4.3.2-1",
    "MQTT-4.3.2-2",
    "MQTT-4.3.2-3",
    "MQTT-4.3.2-4",
    "MQTT-4.3.2-5",
    "MQTT-4.3.3-1",
    "MQTT-4.3.3-2",
    "MQTT-4.3.3-3",
    "MQTT-4.3.3-4",
    "MQTT-4.3.3-5",
    "MQTT-4.3.3-6",
    "MQTT-4.3.3-7",
    "MQTT-4.3.3-8",
    "MQTT-4.3.3-9",
    "MQTT-4.3.3-10",
    "MQTT-4.3.3-11",
    "MQTT-4.3.3-12",
    "MQTT-4.3.3-13",
    "MQTT-4.4.0-1",
    "MQTT-4.4.0-2",
    "MQTT-4.5.0-1",
    "MQTT-4.5.0-2",
    "MQTT-4.6.0-1",
    "MQTT-4.6.0-2",
    "MQTT-4.6.0-3",
    "MQTT-4.6.0-4",
    "MQTT-4.6.0-5",
    "MQTT-4.6.0-6",
    "MQTT-4.7.0-1",
    "MQTT-4.7.1-1",
    "MQTT-4.7.1-2",
    "MQTT-4.7.2-1",
    "MQTT-4.7.3-1",
    "MQTT-4.7.3-2",
    "MQTT-4.7.3-3",
    "MQTT-4.7.3-4",
    "MQTT-4.8.2-1",
    "MQTT-4.8.2-2",
    "MQTT-4.8.2-3",
    "MQTT-4.8.2-4",
    "MQTT-4.8.2-5",
    "MQTT-4.8.2-6",
    "MQTT-4.9.0-1",
    "MQTT-4.9.0-2",
    "MQTT-4.9.0-3",
    "MQTT-4.12.0-1",
    "MQTT-4.12.0-2",
    "MQTT-4.12.0-3",
    "MQTT-4.12.0-4",
    "MQTT-4.12.0-5",
    "MQTT-4.12.0-6",
    "MQTT-4.12.0-7",
    "MQTT-4.12.1-1",
    "MQTT-4.12.1-2",
    "MQTT-4.13.1-1",
    "MQTT-4.13.2-1",
    "MQTT-6.0.0-1",
    "MQTT-6.0.0-2",
    "MQTT-6.0.0-3",
    "MQTT-6.0.0-4",
];

/// A reason must say something specific, not just "n/a".
const MIN_REASON_LEN: usize = 20;

/// One conformance matrix: its file, the statements it must cover, and whether a row may say
/// `open:` (a statement we do not test yet, listed under "Known gaps").
struct Table {
    file: &'static str,
    revision: &'static str,
    ids: &'static [&'static str],
    open_allowed: bool,
}

const MQTT_3_1_1: Table = Table {
    file: "docs/CONFORMANCE.md",
    revision: "MQTT 3.1.1",
    ids: STATEMENT_IDS,
    open_allowed: false,
};

const MQTT_5: Table = Table {
    file: "docs/CONFORMANCE-5.md",
    revision: "MQTT 5.0",
    ids: STATEMENT_IDS_5,
    open_allowed: true,
};

/// The marker of a statement not (fully) tested yet.
const OPEN: &str = "open:";

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

impl Row {
    fn is_open(&self) -> bool {
        self.tests.contains(OPEN)
    }
}

fn table_text(table: &Table) -> String {
    let path = root().join(table.file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn table_rows(table: &Table) -> Vec<Row> {
    rows_of(&table_text(table), table.file)
}

fn rows_of(text: &str, file: &str) -> Vec<Row> {
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
                "{file} line {}: expected 4 columns, got {}",
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

/// The statement ids named in the "## Known gaps" section (up to the next `## ` heading).
fn known_gap_ids(text: &str) -> Vec<&str> {
    let Some(start) = text.find("\n## Known gaps") else {
        return Vec::new();
    };
    let section = &text[start + 1..];
    let section = &section[..section[1..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 1)];
    section
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| word.starts_with("MQTT-"))
        .collect()
}

/// The `file::function` references of a tests cell: every backticked item.
fn references(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Fails with every problem found, naming the table.
fn assert_no_problems(table: &Table, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        table.file,
        problems.join("\n")
    );
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

/// Every statement of the table's revision has exactly one row, in specification order.
fn one_row_per_statement(table: &Table) -> Vec<String> {
    let rows = table_rows(table);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for row in &rows {
        if let Some(first) = seen.insert(&row.id, row.line) {
            problems.push(format!(
                "{} listed twice (lines {first} and {})",
                row.id, row.line
            ));
        }
        if !table.ids.contains(&row.id.as_str()) {
            problems.push(format!(
                "line {}: {} is not an {} statement",
                row.line, row.id, table.revision
            ));
        }
    }
    for id in table.ids {
        if !seen.contains_key(id) {
            problems.push(format!("{id} has no row"));
        }
    }
    if problems.is_empty() {
        let order: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        if order != table.ids {
            let at = order.iter().zip(table.ids).position(|(a, b)| a != b);
            problems.push(format!("rows out of specification order at row {at:?}"));
        }
    }
    problems
}

/// Every row binds someone, paraphrases its statement, and names tests, an "n/a: reason" or
/// (where the table allows it) an "open: what is missing".
fn rows_bind_someone_and_have_tests_or_a_reason(table: &Table) -> Vec<String> {
    let mut problems = Vec::new();
    for row in table_rows(table) {
        if !matches!(row.binds.as_str(), "server" | "client" | "both") {
            problems.push(format!(
                "{}: binds {:?}, expected server, client or both",
                row.id, row.binds
            ));
        }
        if row.statement.is_empty() {
            problems.push(format!("{}: no paraphrase", row.id));
        }
        if row.is_open() && !table.open_allowed {
            problems.push(format!(
                "{}: `{OPEN}` rows are not accepted in this table",
                row.id
            ));
        }
        if references(&row.tests).is_empty() {
            let markers: &[&str] = if table.open_allowed {
                &["n/a:", OPEN]
            } else {
                &["n/a:"]
            };
            let reason = markers
                .iter()
                .find_map(|m| row.tests.strip_prefix(m))
                .map(str::trim);
            if reason.is_none_or(|r| r.len() < MIN_REASON_LEN) {
                problems.push(format!(
                    "{}: neither a test nor {} with a reason (at least {MIN_REASON_LEN} characters)",
                    row.id,
                    markers
                        .iter()
                        .map(|m| format!("\"{m} reason\""))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
            }
        }
    }
    problems
}

/// Every named test exists, is a test, is compiled into its binary, and is ignored only where
/// the row says so.
fn named_tests_exist(table: &Table) -> Vec<String> {
    let mut sources: HashMap<PathBuf, Option<String>> = HashMap::new();
    let mut problems = Vec::new();
    for row in table_rows(table) {
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
    problems
}

/// Every `open:` row is listed under "Known gaps", and that section lists only open rows, so a
/// gap can neither hide in the table nor linger in the list once tested.
fn open_rows_are_known_gaps(rows: &[Row], text: &str) -> Vec<String> {
    let gaps = known_gap_ids(text);
    let mut problems = Vec::new();
    for row in rows.iter().filter(|r| r.is_open()) {
        if !gaps.contains(&row.id.as_str()) {
            problems.push(format!(
                "{}: open, but not listed under \"Known gaps\"",
                row.id
            ));
        }
    }
    for gap in gaps {
        if !rows.iter().any(|r| r.id == gap && r.is_open()) {
            problems.push(format!(
                "{gap}: listed under \"Known gaps\" but its row is not open"
            ));
        }
    }
    problems
}

#[test]
fn statement_lists_are_well_formed() {
    for (table, count, first, last) in [
        (&MQTT_3_1_1, 133, "MQTT-1.5.3-1", "MQTT-4.8.0-2"),
        (&MQTT_5, 251, "MQTT-1.5.4-1", "MQTT-6.0.0-4"),
    ] {
        assert_eq!(table.ids.len(), count, "{}", table.revision);
        let unique: HashSet<_> = table.ids.iter().collect();
        assert_eq!(
            unique.len(),
            table.ids.len(),
            "duplicate id in the {} list",
            table.revision
        );
        assert_eq!(table.ids.first(), Some(&first));
        assert_eq!(table.ids.last(), Some(&last));
    }
}

#[test]
fn every_statement_has_exactly_one_row_in_order() {
    assert_no_problems(&MQTT_3_1_1, &one_row_per_statement(&MQTT_3_1_1));
}

#[test]
fn every_row_binds_someone_and_has_tests_or_a_reason() {
    assert_no_problems(
        &MQTT_3_1_1,
        &rows_bind_someone_and_have_tests_or_a_reason(&MQTT_3_1_1),
    );
}

#[test]
fn every_named_test_exists() {
    assert_no_problems(&MQTT_3_1_1, &named_tests_exist(&MQTT_3_1_1));
}

#[test]
fn mqtt_5_every_statement_has_exactly_one_row_in_order() {
    assert_no_problems(&MQTT_5, &one_row_per_statement(&MQTT_5));
}

#[test]
fn mqtt_5_every_row_binds_someone_and_has_tests_or_a_reason() {
    assert_no_problems(
        &MQTT_5,
        &rows_bind_someone_and_have_tests_or_a_reason(&MQTT_5),
    );
}

#[test]
fn mqtt_5_every_named_test_exists() {
    assert_no_problems(&MQTT_5, &named_tests_exist(&MQTT_5));
}

#[test]
fn mqtt_5_every_open_row_is_a_known_gap() {
    let text = table_text(&MQTT_5);
    assert_no_problems(
        &MQTT_5,
        &open_rows_are_known_gaps(&rows_of(&text, MQTT_5.file), &text),
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

/// The checker itself: open rows and the "Known gaps" section must agree, both ways.
#[test]
fn checker_matches_open_rows_with_known_gaps() {
    let text = "\
| MQTT-1-1 | a | server | `broker::v5::x` |
| MQTT-1-2 | b | client | open: client MQTT 5.0 support (issue 13) |
| MQTT-1-3 | c | both | `broker::v5::x`; client side open: issue 13 |

## Known gaps

- MQTT-1-2, MQTT-1-3.

## Later

MQTT-1-1 is mentioned here, outside the section.
";
    let rows = rows_of(text, "example");
    assert_eq!(known_gap_ids(text), ["MQTT-1-2", "MQTT-1-3"]);
    assert!(open_rows_are_known_gaps(&rows, text).is_empty());
    let hidden = text.replace("- MQTT-1-2, MQTT-1-3.", "- MQTT-1-2.");
    assert_eq!(open_rows_are_known_gaps(&rows, &hidden).len(), 1);
    let stale = text.replace("- MQTT-1-2, MQTT-1-3.", "- MQTT-1-1, MQTT-1-2, MQTT-1-3.");
    assert_eq!(open_rows_are_known_gaps(&rows, &stale).len(), 1);
    assert_eq!(known_gap_ids("no such section"), Vec::<&str>::new());
}
