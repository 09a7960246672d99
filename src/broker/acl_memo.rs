//! A connection's ACL with its last verdicts remembered.
//!
//! Messages come in runs on one topic (a sensor's stream, one publish fanned out to many
//! subscribers, each of whose connections checks it), so remembering the last topic checked for
//! reading and for writing turns most checks into a short string compare instead of a walk through
//! the rule tries. And when the topic changes every time (many sensors behind one connection),
//! what is remembered is the topic prefix that decided ([`ClientAcl::check_reach`]: `sensors/`
//! under a rule `sensors/#`), so a new topic under it is still a prefix compare. Issue 18 asks
//! that 1,000 loaded rules cost at most 5% of throughput.
//!
//! After a reload ([`ServiceFiles::reload`]) the next check compiles the client's rules again
//! from the new file and forgets what it remembered.

use std::cell::RefCell;
use std::sync::Arc;

use super::service_files::ServiceFiles;
use crate::service::acl::{AclAccess, AclFile, ClientAcl};

/// One connection's compiled ACL. Owned by that connection's thread.
pub(crate) struct AclMemo {
    client_id: Arc<str>,
    username: Option<String>,
    compiled: RefCell<Compiled>,
}

struct Compiled {
    generation: u64,
    rules: ClientAcl,
    read: Verdict,
    write: Verdict,
}

/// The verdict for `topic` (every topic starting with it when `prefix`), when `known`; the
/// buffer is reused so a change of topic does not allocate once it has grown.
#[derive(Default)]
struct Verdict {
    known: bool,
    topic: String,
    prefix: bool,
    allowed: bool,
}

impl Verdict {
    fn covers(&self, topic: &str) -> bool {
        self.known
            && if self.prefix {
                topic.starts_with(self.topic.as_str())
            } else {
                self.topic == topic
            }
    }
}

impl Compiled {
    fn new(file: &AclFile, generation: u64, client_id: &str, username: Option<&str>) -> Self {
        Compiled {
            generation,
            rules: file.for_client(client_id, username),
            read: Verdict::default(),
            write: Verdict::default(),
        }
    }
}

impl AclMemo {
    /// The client's rules from the ACL file in force, or `None` when the broker has none.
    pub(crate) fn new(
        files: &ServiceFiles,
        client_id: Arc<str>,
        username: Option<String>,
    ) -> Option<AclMemo> {
        let (file, generation) = files.acl();
        let file = file?;
        let compiled = Compiled::new(&file, generation, &client_id, username.as_deref());
        Some(AclMemo {
            client_id,
            username,
            compiled: RefCell::new(compiled),
        })
    }

    /// Whether the client may `access` `topic` (a topic name): the same answer as
    /// [`ClientAcl::check`] on the file in force, remembered for the next call.
    pub(crate) fn check(&self, files: &ServiceFiles, topic: &str, access: AclAccess) -> bool {
        let mut compiled = self.current(files);
        let Compiled {
            rules, read, write, ..
        } = &mut *compiled;
        let memo = match access {
            AclAccess::Read => read,
            AclAccess::Write => write,
        };
        if memo.covers(topic) {
            return memo.allowed;
        }
        let (allowed, prefix) = rules.check_reach(topic, access);
        memo.topic.clear();
        memo.topic.push_str(&topic[..prefix.unwrap_or(topic.len())]);
        memo.prefix = prefix.is_some();
        memo.allowed = allowed;
        memo.known = true;
        allowed
    }

    /// See [`ClientAcl::may_ever_read`]; subscriptions are rare, so nothing is remembered.
    pub(crate) fn may_ever_read(&self, files: &ServiceFiles, filter: &str) -> bool {
        self.current(files).rules.may_ever_read(filter)
    }

    fn current(&self, files: &ServiceFiles) -> std::cell::RefMut<'_, Compiled> {
        let mut compiled = self.compiled.borrow_mut();
        if compiled.generation != files.generation()
            && let (Some(file), generation) = files.acl()
        {
            *compiled = Compiled::new(&file, generation, &self.client_id, self.username.as_deref());
        }
        compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(text: &str) -> ServiceFiles {
        ServiceFiles::new(None, Some(Arc::new(AclFile::parse(text, "acl").unwrap())))
    }

    /// Remembering never changes an answer: alternating topics and access kinds give what the
    /// rules give.
    #[test]
    fn remembered_verdicts_match_the_rules() {
        let files = files("user alice\ntopic read in/#\ntopic write out/#\ntopic deny in/secret\n");
        let acl = AclMemo::new(&files, Arc::from("c1"), Some("alice".to_owned())).unwrap();
        let rules = files.acl().0.unwrap().for_client("c1", Some("alice"));
        let cases = [
            ("in/a", AclAccess::Read, true),
            ("in/b/c", AclAccess::Read, true),
            ("in/secret/x", AclAccess::Read, true),
            ("in", AclAccess::Read, true),
            ("in/secret", AclAccess::Read, false),
            ("in/a", AclAccess::Read, true),
            ("in/a", AclAccess::Write, false),
            ("out/a", AclAccess::Write, true),
            ("in/secret", AclAccess::Read, false),
            ("in/secret", AclAccess::Read, false),
            ("in/a", AclAccess::Read, true),
            ("out/a", AclAccess::Read, false),
            ("out/a", AclAccess::Write, true),
        ];
        for (topic, access, expected) in cases {
            assert_eq!(
                acl.check(&files, topic, access),
                expected,
                "{topic} {access:?}"
            );
            assert_eq!(rules.check(topic, access), expected, "{topic} {access:?}");
        }
    }
}
