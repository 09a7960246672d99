//! A connection's ACL with its last verdicts remembered.
//!
//! Messages come in runs on one topic (a sensor's stream, one publish fanned out to many
//! subscribers, each of whose connections checks it), so remembering the last topic checked for
//! reading and for writing turns most checks into a short string compare instead of a walk through
//! the rule tries. Issue 18 asks that 1,000 loaded rules cost at most 5% of throughput.

use std::cell::RefCell;

use crate::service::acl::{AclAccess, ClientAcl};

/// [`ClientAcl`] plus one remembered verdict per access kind. Owned by one connection's thread.
pub(crate) struct AclMemo {
    rules: ClientAcl,
    read: RefCell<Verdict>,
    write: RefCell<Verdict>,
}

/// The verdict for `topic`, when `known`; the buffer is reused so a change of topic does not
/// allocate once it has grown.
#[derive(Default)]
struct Verdict {
    known: bool,
    topic: String,
    allowed: bool,
}

impl AclMemo {
    pub(crate) fn new(rules: ClientAcl) -> AclMemo {
        AclMemo {
            rules,
            read: RefCell::default(),
            write: RefCell::default(),
        }
    }

    /// Whether the client may `access` `topic` (a topic name): the same answer as
    /// [`ClientAcl::check`], remembered for the next call.
    pub(crate) fn check(&self, topic: &str, access: AclAccess) -> bool {
        let memo = match access {
            AclAccess::Read => &self.read,
            AclAccess::Write => &self.write,
        };
        let mut memo = memo.borrow_mut();
        if memo.known && memo.topic == topic {
            return memo.allowed;
        }
        let allowed = self.rules.check(topic, access);
        memo.topic.clear();
        memo.topic.push_str(topic);
        memo.allowed = allowed;
        memo.known = true;
        allowed
    }

    /// See [`ClientAcl::may_ever_read`]; subscriptions are rare, so nothing is remembered.
    pub(crate) fn may_ever_read(&self, filter: &str) -> bool {
        self.rules.may_ever_read(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::acl::AclFile;

    fn memo(text: &str) -> AclMemo {
        let file = AclFile::parse(text, "acl").unwrap();
        AclMemo::new(file.for_client("c1", Some("alice")))
    }

    /// Remembering never changes an answer: alternating topics and access kinds give what the
    /// rules give.
    #[test]
    fn remembered_verdicts_match_the_rules() {
        let acl = memo("user alice\ntopic read in/#\ntopic write out/#\ntopic deny in/secret\n");
        let cases = [
            ("in/a", AclAccess::Read, true),
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
            assert_eq!(acl.check(topic, access), expected, "{topic} {access:?}");
            assert_eq!(
                acl.rules.check(topic, access),
                expected,
                "{topic} {access:?}"
            );
        }
    }
}
