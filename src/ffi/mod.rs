//! The C API: a thin, panic-proof layer over the Rust core.
//!
//! Everything C can call lives in this module tree, and only this tree is read by cbindgen
//! (`build.rs`), so `include/mqtt.h` holds exactly the public C API. Types that C sees carry their
//! C names in Rust too (`mqtt_status`, `mqtt_broker`, ...), which keeps the header and the Rust
//! source greppable side by side.
//!
//! # Conventions every exported function follows
//!
//! **Shape.** `#[unsafe(no_mangle)] pub unsafe extern "C" fn mqtt_...` with a doc comment that
//! cbindgen copies into the header. Functions that dereference pointers from C are `unsafe fn` (the
//! caller promises the pointers are valid; a `# Safety` section, copied into the header, says
//! exactly what it promises); everything else about the arguments is checked.
//!
//! **Results.** A function that can fail returns `mqtt_status` (`MQTT_STATUS_OK` on success). A
//! constructor returns a pointer and NULL on failure; a predicate returns `bool` and `false` on
//! failure. In every case the failure is recorded for the calling thread: `mqtt_last_status()`
//! gives its status and `mqtt_last_error()` a human-readable message. Each fallible call resets
//! both on entry, so they always describe the most recent call. Free functions (`_free`) and pure
//! getters (`mqtt_connection_is_connected`, `mqtt_connection_client_id`,
//! `mqtt_connection_want_write`, `mqtt_broker_port`) are not fallible calls: they run in
//! `guard::guard_void` / `guard::guard_quiet`, which leave both alone (a NULL handle gives the
//! documented default silently), so a goto-cleanup path still reports the failure that led to
//! it. Out-parameters are written only on success — except the packet id of a publish that
//! returns `MQTT_STATUS_QUEUED`, which is a result, not a failure.
//!
//! The helpers live in `args`, `error`, `guard` and `handle`; import them from there (`use
//! super::guard::guard_status;`).
//!
//! **Panic boundary.** The whole body of every exported function runs inside
//! `guard::guard_status`, `guard::guard_or`, `guard::guard_void` or `guard::guard_quiet`: the body returns `Result<_,
//! FfiError>` and uses `?` freely; a panic is caught, never crosses into C, and becomes
//! `MQTT_STATUS_PANIC` with the panic message in `mqtt_last_error()`.
//!
//! ```text
//! #[unsafe(no_mangle)]
//! pub unsafe extern "C" fn mqtt_thing_do(thing: *const mqtt_thing, topic: *const c_char,
//!                                        qos: c_int, out: *mut bool) -> mqtt_status {
//!     guard_status(|| {
//!         let thing = unsafe { handle_ref(thing, "thing") }?;
//!         let topic = unsafe { c_str_arg(topic, "topic") }?;
//!         let qos = qos_arg(qos)?;
//!         let out = unsafe { out_arg(out, "out") }?;
//!         out.write(thing.do_it(topic, qos)?);
//!         Ok(())
//!     })
//! }
//! ```
//!
//! **Arguments.** Every pointer is checked before use: `args::c_str_arg` (NULL →
//! `MQTT_STATUS_NULL_ARGUMENT`, not UTF-8 → `MQTT_STATUS_INVALID_UTF8`), `args::opt_c_str_arg`
//! (NULL means "absent"), `args::bytes_arg` (NULL is allowed when the length is 0),
//! `args::out_arg`, `handle::handle_ref` / `handle::handle_mut`. Integers that stand for enums
//! arrive as `int` and are range checked (`args::qos_arg` → `MQTT_STATUS_INVALID_QOS`); Rust
//! never receives a C enum by value, because an out-of-range value would be undefined behaviour
//! before any check could run.
//!
//! **Ownership.** Opaque handles are Rust values boxed with `handle::into_handle` and released with
//! `handle::free_handle` by the matching `_free` function; `_free(NULL)` is a no-op. A handle type
//! is a plain `pub struct mqtt_thing { .. }` (not `#[repr(C)]`), which the header forward-declares
//! as `typedef struct mqtt_thing mqtt_thing;`; structs C reads or fills (views, stats) are
//! `#[repr(C)]` with public fields. An enum C names but no signature mentions (C passes it as
//! `int`) must be listed under `[export] include` in cbindgen.toml to reach the header. Strings and
//! buffers passed in are borrowed for the duration of the call (copied if kept). Pointers handed
//! out to callbacks are valid only during the callback.
//!
//! **Callbacks.** C function pointers travel with a `void *userdata`, wrapped in `args::UserData`
//! so they can move to the threads that call them. Every callback's doc comment states which thread
//! calls it and which API functions it may call.
//!
//! **Errors from the core.** Rust-core error types convert into `error::FfiError` (with a status
//! and a message) via `From`, so `?` maps them; `std::io::Error`, `TopicError`, `EncodeError` and
//! `DecodeError` already do.

mod args;
mod broker;
mod client;
mod error;
mod guard;
mod handle;
mod reason;
mod status;
mod topic;
mod version;

pub use broker::*;
pub use client::*;
pub use error::{mqtt_last_error, mqtt_last_status};
pub use reason::mqtt_last_reason_code;
pub use status::{mqtt_qos, mqtt_status, mqtt_status_str};
pub use topic::{mqtt_topic_is_valid_filter, mqtt_topic_is_valid_name, mqtt_topic_matches};
pub use version::mqtt_version;
