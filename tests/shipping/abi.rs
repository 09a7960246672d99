//! The ABI guard: the functions target/release/libmqtt.so exports must be exactly those listed in
//! abi/libmqtt.symbols, so that adding or removing one is always a deliberate, reviewed change
//! of the list. The library must export nothing else: no Rust symbol leaks into the dynamic
//! symbol table.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use super::support::*;

const UPDATE: &str = "nm -D --defined-only target/release/libmqtt.so | awk '$2==\"T\"{print $3}' \
                      | sort > abi/libmqtt.symbols";

/// (type, name) of every symbol the library defines in its dynamic symbol table.
fn exported_symbols() -> Vec<(String, String)> {
    // Builds target/release/libmqtt.so under the shared lock.
    make(&[], &[]);
    let finished = run_ok(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(release_dir().join("libmqtt.so")),
        Duration::from_secs(60),
    );
    finished
        .stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_address, kind, name] => Some(((*kind).to_owned(), (*name).to_owned())),
                _ => None,
            }
        })
        .collect()
}

fn listed_symbols() -> BTreeSet<String> {
    std::fs::read_to_string(root().join("abi/libmqtt.symbols"))
        .expect("abi/libmqtt.symbols is readable")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn exported_functions_match_the_committed_list() {
    let exported = exported_symbols();
    assert!(!exported.is_empty(), "nm found no dynamic symbols");

    let stray: Vec<String> = exported
        .iter()
        .filter(|(_, name)| !name.starts_with("mqtt_"))
        .map(|(kind, name)| format!("{kind} {name}"))
        .collect();
    assert!(
        stray.is_empty(),
        "libmqtt.so exports symbols outside the C API: {stray:?}"
    );

    let functions: BTreeSet<String> = exported
        .iter()
        .filter(|(kind, _)| kind == "T")
        .map(|(_, name)| name.clone())
        .collect();
    let listed = listed_symbols();
    let appeared: Vec<&String> = functions.difference(&listed).collect();
    let disappeared: Vec<&String> = listed.difference(&functions).collect();
    let diff: String = appeared
        .iter()
        .map(|name| format!("+{name}\n"))
        .chain(disappeared.iter().map(|name| format!("-{name}\n")))
        .collect();
    assert!(
        diff.is_empty(),
        "the exported functions differ from abi/libmqtt.symbols (+ exported but not listed, \
         - listed but no longer exported):\n{diff}\nA removed or renamed function breaks every \
         program linked against the library. If the change is deliberate, update the list \
         (after `make -C examples-c`) with\n  {UPDATE}\nand commit it with the change."
    );
}

#[test]
fn the_list_is_sorted_and_holds_only_c_api_names() {
    let text = std::fs::read_to_string(root().join("abi/libmqtt.symbols")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        lines, sorted,
        "abi/libmqtt.symbols is not sorted and unique"
    );
    for line in lines {
        assert!(
            line.starts_with("mqtt_")
                && line.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "not a C API function name: {line:?}"
        );
    }
}
