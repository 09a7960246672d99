//! include/mqtt.h as documentation: every function it declares carries a doc comment, functions
//! taking a callback say which thread runs it, functions returning a pointer say who owns it or
//! how long it lives, and the functions declared are exactly those in the ABI list
//! (abi/libmqtt.symbols, which tests/shipping/abi.rs holds the built library to).

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A top-level declaration of the header (text up to its `;`) with the doc comment before it.
#[derive(Debug)]
struct Declaration {
    text: String,
    doc: Option<String>,
}

impl Declaration {
    fn is_typedef(&self) -> bool {
        self.text.starts_with("typedef")
    }

    /// The declared function's name, for a function declaration.
    fn function_name(&self) -> Option<&str> {
        if self.is_typedef() {
            return None;
        }
        let open = self.text.find('(')?;
        let name = self.text[..open].trim_end();
        let start = name
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        Some(&name[start..])
    }

    /// The name of a function pointer type, for `typedef R (*name)(...)`.
    fn callback_type_name(&self) -> Option<&str> {
        if !self.is_typedef() {
            return None;
        }
        let start = self.text.find("(*")? + 2;
        let end = start + self.text[start..].find(')')?;
        Some(&self.text[start..end])
    }

    /// The return type and name part, before the parameter list.
    fn signature_head(&self) -> &str {
        self.text.split('(').next().unwrap_or("")
    }

    fn parameters(&self) -> &str {
        self.text.split_once('(').map_or("", |(_, rest)| rest)
    }

    fn doc_text(&self) -> &str {
        self.doc.as_deref().unwrap_or("")
    }
}

/// Splits the header into top-level declarations. Doc comments (`/** */`) attach to the next
/// declaration; preprocessor lines, plain comments and the `extern "C"` wrapper are skipped, and
/// whatever sits inside braces (struct fields, enum values) belongs to its typedef.
fn declarations(header: &str) -> Vec<Declaration> {
    let header: String = header
        .lines()
        .filter(|line| {
            let line = line.trim();
            line != "extern \"C\" {" && !(line.starts_with('}') && line.contains("extern \"C\""))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let mut result = Vec::new();
    let mut doc = None;
    let mut text = String::new();
    let mut depth = 0usize;
    let mut rest = header.as_str();
    let mut at_line_start = true;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("/**") {
            let end = after.find("*/").expect("doc comment is closed");
            // Inside braces it documents a field or an enum value, not the declaration.
            if depth == 0 {
                doc = Some(after[..end].to_owned());
            }
            rest = &after[end + 2..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after.find("*/").expect("comment is closed");
            rest = &after[end + 2..];
            continue;
        }
        if rest.starts_with("//") || (at_line_start && c == '#') {
            if c == '#' {
                doc = None;
                text.clear();
            }
            rest = rest.find('\n').map_or("", |end| &rest[end..]);
            continue;
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.checked_sub(1).expect("braces balance"),
            ';' if depth == 0 => {
                result.push(Declaration {
                    text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                    doc: doc.take(),
                });
                text.clear();
            }
            _ if depth == 0 => text.push(c),
            _ => {}
        }
        at_line_start = c == '\n';
        rest = &rest[c.len_utf8()..];
    }
    result
}

fn header_declarations() -> Vec<Declaration> {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/mqtt.h"))
        .expect("include/mqtt.h is readable");
    declarations(&header)
}

fn functions(declarations: &[Declaration]) -> Vec<&Declaration> {
    declarations
        .iter()
        .filter(|d| d.function_name().is_some())
        .collect()
}

fn fail_listing(problem: &str, names: &[&str]) {
    assert!(
        names.is_empty(),
        "{problem} ({} in include/mqtt.h): {}\nThe doc comment is written on the function in \
         src/ffi; cbindgen copies it into the header.",
        names.len(),
        names.join(", ")
    );
}

#[test]
fn the_parser_finds_the_header_functions() {
    let declarations = header_declarations();
    let names: Vec<&str> = functions(&declarations)
        .iter()
        .filter_map(|d| d.function_name())
        .collect();
    for expected in [
        "mqtt_broker_new",
        "mqtt_connect",
        "mqtt_subscribe",
        "mqtt_last_error",
        "mqtt_version",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not found in {names:?}"
        );
    }
    let subscribe = declarations
        .iter()
        .find(|d| d.function_name() == Some("mqtt_subscribe"))
        .unwrap();
    assert!(
        subscribe
            .parameters()
            .contains("mqtt_message_callback callback")
    );
    assert!(subscribe.doc_text().contains("SUBACK"));
    let callbacks: Vec<&str> = declarations
        .iter()
        .filter_map(|d| d.callback_type_name())
        .collect();
    assert!(
        callbacks.contains(&"mqtt_message_callback"),
        "{callbacks:?}"
    );
}

#[test]
fn every_function_has_a_doc_comment() {
    let declarations = header_declarations();
    let undocumented: Vec<&str> = functions(&declarations)
        .iter()
        .filter(|d| d.doc_text().trim().is_empty())
        .filter_map(|d| d.function_name())
        .collect();
    fail_listing("functions without a doc comment", &undocumented);
}

#[test]
fn functions_taking_a_callback_say_which_thread_runs_it() {
    let declarations = header_declarations();
    let callback_types: Vec<&str> = declarations
        .iter()
        .filter_map(|d| d.callback_type_name())
        .collect();
    assert!(!callback_types.is_empty(), "no callback types found");
    let silent: Vec<&str> = functions(&declarations)
        .iter()
        .filter(|d| {
            callback_types.iter().any(|t| {
                d.parameters()
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .any(|word| word == *t)
            })
        })
        .filter(|d| !d.doc_text().to_lowercase().contains("thread"))
        .filter_map(|d| d.function_name())
        .collect();
    fail_listing(
        "functions taking a callback whose doc does not say which thread calls it",
        &silent,
    );
}

#[test]
fn functions_returning_a_pointer_say_who_owns_it() {
    let declarations = header_declarations();
    let words = [
        "free", "owned", "owns", "belongs", "valid", "static", "release",
    ];
    let silent: Vec<&str> = functions(&declarations)
        .iter()
        .filter(|d| d.signature_head().contains('*'))
        .filter(|d| {
            let doc = d.doc_text().to_lowercase();
            !words.iter().any(|word| doc.contains(word))
        })
        .filter_map(|d| d.function_name())
        .collect();
    fail_listing(
        "functions returning a pointer whose doc says nothing of its ownership or lifetime",
        &silent,
    );
}

#[test]
fn header_declares_exactly_the_functions_in_the_abi_list() {
    let declarations = header_declarations();
    let declared: BTreeSet<&str> = functions(&declarations)
        .iter()
        .filter_map(|d| d.function_name())
        .collect();
    let list = std::fs::read_to_string(Path::new(ROOT).join("abi/libmqtt.symbols"))
        .expect("abi/libmqtt.symbols is readable");
    let listed: BTreeSet<&str> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let undeclared: Vec<&str> = listed.difference(&declared).copied().collect();
    let unlisted: Vec<&str> = declared.difference(&listed).copied().collect();
    assert!(
        undeclared.is_empty() && unlisted.is_empty(),
        "include/mqtt.h and abi/libmqtt.symbols disagree.\n  listed but not declared: {}\n  \
         declared but not listed: {}\nIf the API change is deliberate, rebuild and update the \
         list as tests/shipping/abi.rs explains.",
        undeclared.join(", "),
        unlisted.join(", ")
    );
}

#[test]
fn the_parser_attaches_docs_to_the_right_declarations() {
    let header = "#ifndef X_H\n/** Typedef doc. */\ntypedef void (*cb)(void *userdata);\n\
                  typedef struct {\n    /** Field doc; */\n    int field;\n} s;\n\
                  #ifdef __cplusplus\nextern \"C\" {\n#endif\n\
                  /** Documented. */\nint *documented(cb callback,\n    int n);\n\
                  /* A plain comment is no doc. */\nvoid undocumented(void);\n\
                  #ifdef __cplusplus\n}  // extern \"C\"\n#endif\n";
    let declarations = declarations(header);
    let summary: Vec<(Option<&str>, Option<&str>, bool)> = declarations
        .iter()
        .map(|d| (d.function_name(), d.callback_type_name(), d.doc.is_some()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (None, Some("cb"), true),
            (None, None, false),
            (Some("documented"), None, true),
            (Some("undocumented"), None, false),
        ]
    );
    assert_eq!(declarations[2].parameters(), "cb callback, int n)");
    assert_eq!(declarations[2].signature_head(), "int *documented");
}
