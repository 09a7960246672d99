//! The subscription tree: topic filters stored level by level, so finding the subscribers of a
//! topic walks the topic's levels instead of testing every filter (section 4.7).
//!
//! A shared subscription `$share/{group}/{filter}` (MQTT 5.0 section 4.8.2, also accepted from
//! MQTT 3.1.1 clients as mosquitto does) sits at its filter's node as a member of its group;
//! each message matching it goes to one member, chosen round robin among the connected ones.
//! When a member's session ends, another member takes over the messages it still owed (see
//! `State::hand_over` in registry.rs).
//!
//! Everything is iterative: a filter or topic may hold tens of thousands of levels, more than a
//! small connection-thread stack could recurse through.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::session::Session;
use crate::protocol::QoS;
use crate::topic::{TopicFilter, split_shared};

/// What a subscription grants: the maximum QoS and the MQTT 5.0 options that shape each
/// delivery (MQTT 5.0 section 3.8.3.1). MQTT 3.1.1 subscriptions have the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub qos: QoS,
    /// The session's own messages are not delivered through this subscription.
    pub no_local: bool,
    /// Deliveries keep the RETAIN flag the message was published with.
    pub retain_as_published: bool,
    /// The Subscription Identifier, 0 for none.
    pub identifier: u32,
    /// A shared subscription: its deliveries are never merged with the session's others.
    pub shared: bool,
}

impl From<QoS> for Grant {
    fn from(qos: QoS) -> Grant {
        Grant {
            qos,
            no_local: false,
            retain_as_published: false,
            identifier: 0,
            shared: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub session: Arc<Session>,
    /// `session.id`, kept here so that routing orders and groups a message's subscribers without
    /// touching each session's memory.
    pub session_id: u64,
    pub grant: Grant,
    /// For a member of a share group, its whole filter `$share/{group}/{filter}`: deliveries
    /// remember it so that the group can take them over (MQTT 5.0 section 4.8.2).
    pub group: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    /// The `+` child.
    single: Option<Box<Node>>,
    /// Subscribers whose filter ends at this node's level with `/#` (or is `#` at the root).
    multi: Vec<Subscriber>,
    /// Subscribers whose filter ends exactly at this node.
    exact: Vec<Subscriber>,
    /// Shared subscriptions whose filter ends at this node (with `/#` or exactly).
    shared: Vec<SharedGroup>,
}

/// The members of one share group for one filter.
#[derive(Debug)]
struct SharedGroup {
    name: Box<str>,
    /// The filter ends with `/#` at this node (otherwise exactly here).
    multi: bool,
    members: Vec<Subscriber>,
    /// Round-robin position of the next member to try.
    next: AtomicUsize,
}

impl SharedGroup {
    /// The member that gets the next message: the next connected one in turn, or the next one
    /// in turn if none is connected (its session queues the message).
    fn pick(&self) -> Option<&Subscriber> {
        let count = self.members.len();
        if count == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|i| &self.members[(start + i) % count])
            .find(|m| m.session.is_connected())
            .or(Some(&self.members[start % count]))
    }
}

impl Node {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.single.is_none()
            && self.multi.is_empty()
            && self.exact.is_empty()
            && self.shared.is_empty()
    }

    /// Subscriptions held at this node itself.
    fn entries(&self) -> usize {
        self.multi.len()
            + self.exact.len()
            + self.shared.iter().map(|g| g.members.len()).sum::<usize>()
    }

    fn child(&self, step: Step<'_>) -> Option<&Node> {
        match step {
            Step::Named(name) => self.children.get(name),
            Step::Single => self.single.as_deref(),
        }
    }

    fn child_mut(&mut self, step: Step<'_>) -> Option<&mut Node> {
        match step {
            Step::Named(name) => self.children.get_mut(name),
            Step::Single => self.single.as_deref_mut(),
        }
    }

    fn child_or_insert(&mut self, step: Step<'_>) -> &mut Node {
        match step {
            Step::Named(name) => self.children.entry(name.into()).or_default(),
            Step::Single => self.single.get_or_insert_with(Box::default),
        }
    }

    fn remove_child(&mut self, step: Step<'_>) {
        match step {
            Step::Named(name) => {
                self.children.remove(name);
            }
            Step::Single => self.single = None,
        }
    }

    /// Whether this node holds nothing but the path to `next`.
    fn only_leads_to(&self, next: Step<'_>) -> bool {
        self.entries() == 0
            && match next {
                Step::Named(name) => {
                    self.single.is_none()
                        && self.children.len() == 1
                        && self.children.contains_key(name)
                }
                Step::Single => self.children.is_empty(),
            }
    }
}

impl Drop for Node {
    /// Dismantles deep subtrees with a heap worklist instead of recursion.
    fn drop(&mut self) {
        let mut worklist: Vec<Node> = self.children.drain().map(|(_, n)| n).collect();
        worklist.extend(self.single.take().map(|b| *b));
        while let Some(mut node) = worklist.pop() {
            worklist.extend(node.children.drain().map(|(_, n)| n));
            worklist.extend(node.single.take().map(|b| *b));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Named(&'a str),
    Single,
}

/// A filter split into the steps leading to its node and which list at that node holds it.
struct Path<'a> {
    steps: Vec<Step<'a>>,
    multi: bool,
    /// The share group of a `$share/{group}/{filter}` subscription.
    group: Option<&'a str>,
}

fn path_of(filter: &str) -> Path<'_> {
    let (group, filter) = match split_shared(filter) {
        Some((group, inner)) => (Some(group), inner),
        None => (None, filter),
    };
    let mut steps = Vec::new();
    let mut multi = false;
    for level in filter.split('/') {
        match level {
            "#" => multi = true,
            "+" => steps.push(Step::Single),
            name => steps.push(Step::Named(name)),
        }
    }
    Path {
        steps,
        multi,
        group,
    }
}

/// A node still to visit while collecting: the node, the levels of the topic still to match
/// (`None` once all are matched), and whether it is at the first level.
type Visit<'a> = (&'a Node, Option<&'a str>, bool);

/// Branches pending at once before [`Worklist`] spills to the heap. Each level adds at most one
/// (a named child and the `+` child are both followed), so this covers topics of 16 levels.
const INLINE_VISITS: usize = 16;

/// The depth-first stack of [`SubscriptionTree::collect`], kept inline so routing a message
/// allocates nothing for it; only topics that branch into more wildcard paths than
/// `INLINE_VISITS` at once spill into a heap vector.
struct Worklist<'a> {
    inline: [Option<Visit<'a>>; INLINE_VISITS],
    len: usize,
    /// Entries pushed while `inline` was full; always above every inline entry.
    spilled: Vec<Visit<'a>>,
}

impl Default for Worklist<'_> {
    fn default() -> Self {
        Worklist {
            inline: [None; INLINE_VISITS],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl<'a> Worklist<'a> {
    fn push(&mut self, visit: Visit<'a>) {
        if self.len < INLINE_VISITS && self.spilled.is_empty() {
            self.inline[self.len] = Some(visit);
            self.len += 1;
        } else {
            self.spilled.push(visit);
        }
    }

    fn pop(&mut self) -> Option<Visit<'a>> {
        if let Some(visit) = self.spilled.pop() {
            return Some(visit);
        }
        self.len = self.len.checked_sub(1)?;
        self.inline[self.len].take()
    }
}

#[derive(Debug, Default)]
pub(crate) struct SubscriptionTree {
    root: Node,
    len: usize,
    /// Changes with every subscribe and unsubscribe, so that a router may reuse what it
    /// collected for a topic while the tree stays the same.
    version: u64,
}

impl SubscriptionTree {
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of (filter, session) subscriptions held; the broker's subscription count.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds or replaces `session`'s subscription to `filter`: a second SUBSCRIBE with the same
    /// filter replaces the first ([MQTT-3.8.4-3]). Returns whether it is new.
    pub fn subscribe(
        &mut self,
        filter: &TopicFilter,
        session: &Arc<Session>,
        grant: Grant,
    ) -> bool {
        self.version += 1;
        let path = path_of(filter.as_str());
        let mut node = &mut self.root;
        for step in &path.steps {
            node = node.child_or_insert(*step);
        }
        let list = match path.group {
            Some(name) => {
                let position = node
                    .shared
                    .iter()
                    .position(|g| &*g.name == name && g.multi == path.multi);
                let index = position.unwrap_or_else(|| {
                    node.shared.push(SharedGroup {
                        name: name.into(),
                        multi: path.multi,
                        members: Vec::new(),
                        next: AtomicUsize::new(0),
                    });
                    node.shared.len() - 1
                });
                &mut node.shared[index].members
            }
            None if path.multi => &mut node.multi,
            None => &mut node.exact,
        };
        // Kept in session order (share group members too): routing then finds a message's
        // subscribers in order when they all come from one list, the common case, and sorts
        // nothing.
        let at = list.partition_point(|s| s.session_id < session.id);
        if let Some(existing) = list.get_mut(at).filter(|s| s.session_id == session.id) {
            existing.grant = grant;
            return false;
        }
        list.insert(
            at,
            Subscriber {
                session: Arc::clone(session),
                session_id: session.id,
                grant,
                group: path.group.map(|_| Arc::from(filter.as_str())),
            },
        );
        self.len += 1;
        true
    }

    /// Removes `session_id`'s subscription to `filter` and any branch left empty. Returns whether
    /// there was one.
    pub fn unsubscribe(&mut self, filter: &str, session_id: u64) -> bool {
        let path = path_of(filter);
        // First pass, read-only: find the node and the shallowest point from which the whole
        // branch becomes empty once the subscriber is gone.
        let mut nodes: Vec<&Node> = Vec::with_capacity(path.steps.len() + 1);
        let mut node = &self.root;
        nodes.push(node);
        for step in &path.steps {
            match node.child(*step) {
                Some(child) => node = child,
                None => return false,
            }
            nodes.push(node);
        }
        let group = match path.group {
            Some(name) => {
                match node
                    .shared
                    .iter()
                    .position(|g| &*g.name == name && g.multi == path.multi)
                {
                    Some(index) => Some(index),
                    None => return false,
                }
            }
            None => None,
        };
        let list = match group {
            Some(index) => &node.shared[index].members,
            None if path.multi => &node.multi,
            None => &node.exact,
        };
        let Ok(position) = list.binary_search_by_key(&session_id, |s| s.session_id) else {
            return false;
        };
        let last_empties = node.entries() == 1 && node.children.is_empty() && node.single.is_none();
        // cut = depth of the node whose child on the path gets removed, if any.
        let mut cut = None;
        if last_empties && !path.steps.is_empty() {
            let mut depth = path.steps.len() - 1;
            cut = Some(depth);
            while depth > 0 && nodes[depth].only_leads_to(path.steps[depth]) {
                depth -= 1;
                cut = Some(depth);
            }
        }
        drop(nodes);

        // Second pass: mutate.
        self.version += 1;
        let mut node = &mut self.root;
        match cut {
            Some(depth) => {
                for step in &path.steps[..depth] {
                    node = node
                        .child_mut(*step)
                        .expect("path checked in the first pass");
                }
                node.remove_child(path.steps[depth]);
            }
            None => {
                for step in &path.steps {
                    node = node
                        .child_mut(*step)
                        .expect("path checked in the first pass");
                }
                match group {
                    Some(index) => {
                        let members = &mut node.shared[index].members;
                        members.remove(position);
                        if members.is_empty() {
                            node.shared.swap_remove(index);
                        }
                    }
                    None if path.multi => {
                        node.multi.remove(position);
                    }
                    None => {
                        node.exact.remove(position);
                    }
                }
            }
        }
        self.len -= 1;
        true
    }

    /// The member of the share group subscribed as `shared` (`$share/{group}/{filter}`) that
    /// takes over a message another member's session left: picked as for a new message.
    pub fn pick_member(&self, shared: &str) -> Option<Subscriber> {
        let path = path_of(shared);
        let name = path.group?;
        let mut node = &self.root;
        for step in &path.steps {
            node = node.child(*step)?;
        }
        node.shared
            .iter()
            .find(|g| &*g.name == name && g.multi == path.multi)?
            .pick()
            .cloned()
    }

    /// Appends every subscription matching `topic` to `out` (a session subscribed through several
    /// overlapping filters appears once per filter). Wildcards at the first level do not match
    /// topics starting with `$` ([MQTT-4.7.2-1]); `a/#` also matches `a` (section 4.7.1.2).
    pub fn collect(&self, topic: &str, out: &mut Vec<Subscriber>) {
        let dollar = topic.starts_with('$');
        let mut stack = Worklist::default();
        stack.push((&self.root, Some(topic), true));
        while let Some((node, rest, first)) = stack.pop() {
            let wildcards_allowed = !(first && dollar);
            if wildcards_allowed {
                out.extend(node.multi.iter().cloned());
            }
            for group in &node.shared {
                let matches = if group.multi {
                    wildcards_allowed
                } else {
                    rest.is_none()
                };
                if matches && let Some(member) = group.pick() {
                    out.push(member.clone());
                }
            }
            let Some(rest) = rest else {
                out.extend(node.exact.iter().cloned());
                continue;
            };
            let (level, next) = match rest.split_once('/') {
                Some((level, next)) => (level, Some(next)),
                None => (rest, None),
            };
            if let Some(child) = node.children.get(level) {
                stack.push((child, next, false));
            }
            if wildcards_allowed && let Some(single) = node.single.as_deref() {
                stack.push((single, next, false));
            }
        }
    }

    /// Whether the tree holds no nodes besides the root (used by tests to check pruning).
    #[cfg(test)]
    pub fn is_pruned(&self) -> bool {
        self.root.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::matches_str;

    fn session(id: u64) -> Arc<Session> {
        Arc::new(Session::new(id, Arc::from(format!("c{id}")), 0))
    }

    fn matched(tree: &SubscriptionTree, topic: &str) -> Vec<(u64, QoS)> {
        let mut out = Vec::new();
        tree.collect(topic, &mut out);
        let mut ids: Vec<_> = out.iter().map(|s| (s.session.id, s.grant.qos)).collect();
        ids.sort();
        ids
    }

    #[test]
    fn agrees_with_filter_matching() {
        let filters = [
            "#", "+", "a", "a/#", "a/+", "+/b", "a/b", "a/b/c", "+/+", "/+", "$SYS/#", "$SYS/+",
            "a//b", "+/#", "a/+/c",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "/", "/x", "a//b", "$SYS/x", "$SYS", "b", "a/", "x/b",
        ];
        let mut tree = SubscriptionTree::default();
        for (i, f) in filters.iter().enumerate() {
            tree.subscribe(
                &TopicFilter::new(f).unwrap(),
                &session(i as u64),
                QoS::AtMostOnce.into(),
            );
        }
        for topic in topics {
            let expected: Vec<u64> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| matches_str(f, topic))
                .map(|(i, _)| i as u64)
                .collect();
            let got: Vec<u64> = matched(&tree, topic)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(got, expected, "topic {topic}");
        }
    }

    /// Routing relies on one filter's subscribers coming out in session order, whatever order
    /// they subscribed and unsubscribed in.
    #[test]
    fn one_filters_subscribers_stay_in_session_order() {
        let mut tree = SubscriptionTree::default();
        let f = TopicFilter::new("a/b").unwrap();
        let sessions: Vec<_> = (0..8).map(session).collect();
        for id in [5, 1, 7, 0, 3, 6, 2, 4] {
            assert!(tree.subscribe(&f, &sessions[id], QoS::AtMostOnce.into()));
        }
        assert!(!tree.subscribe(&f, &sessions[3], QoS::AtLeastOnce.into()));
        assert!(tree.unsubscribe("a/b", 6));
        assert!(!tree.unsubscribe("a/b", 6));
        let mut out = Vec::new();
        tree.collect("a/b", &mut out);
        let ids: Vec<_> = out.iter().map(|s| s.session_id).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5, 7]);
        assert!(out.iter().all(|s| s.session_id == s.session.id));
        assert_eq!(out[3].grant.qos, QoS::AtLeastOnce);
    }

    /// A router reuses what it collected while the version stays the same: every change that
    /// could alter a collect result, a replaced grant included, moves it.
    #[test]
    fn every_change_moves_the_version() {
        let mut tree = SubscriptionTree::default();
        let s = session(1);
        let f = TopicFilter::new("a/+").unwrap();
        let mut last = tree.version();
        let mut moved = |tree: &SubscriptionTree| {
            let moved = tree.version() != last;
            last = tree.version();
            moved
        };
        assert!(tree.subscribe(&f, &s, QoS::AtMostOnce.into()));
        assert!(moved(&tree));
        assert!(!tree.subscribe(&f, &s, QoS::AtLeastOnce.into()));
        assert!(moved(&tree), "a replaced grant");
        assert!(!tree.unsubscribe("a/b", 1));
        assert!(!moved(&tree), "nothing removed");
        assert!(tree.unsubscribe("a/+", 1));
        assert!(moved(&tree));
    }

    #[test]
    fn mqtt_3_8_4_3_resubscribe_replaces() {
        let mut tree = SubscriptionTree::default();
        let s = session(1);
        let f = TopicFilter::new("a/+").unwrap();
        assert!(tree.subscribe(&f, &s, QoS::AtMostOnce.into()));
        assert!(!tree.subscribe(&f, &s, QoS::ExactlyOnce.into()));
        assert_eq!(tree.len(), 1);
        assert_eq!(matched(&tree, "a/b"), vec![(1, QoS::ExactlyOnce)]);
    }

    #[test]
    fn unsubscribe_prunes_empty_branches_only() {
        let mut tree = SubscriptionTree::default();
        let (s1, s2) = (session(1), session(2));
        for f in ["a/b/c", "a/b", "a/+/#", "x/#", "#"] {
            tree.subscribe(&TopicFilter::new(f).unwrap(), &s1, QoS::AtLeastOnce.into());
        }
        tree.subscribe(
            &TopicFilter::new("a/b/c").unwrap(),
            &s2,
            QoS::AtMostOnce.into(),
        );
        assert!(tree.unsubscribe("a/b/c", 1));
        assert!(!tree.unsubscribe("a/b/c", 1));
        assert_eq!(
            matched(&tree, "a/b/c"),
            vec![
                (1, QoS::AtLeastOnce),
                (1, QoS::AtLeastOnce),
                (2, QoS::AtMostOnce)
            ]
        );
        for f in ["a/b", "a/+/#", "x/#", "#"] {
            assert!(tree.unsubscribe(f, 1), "{f}");
        }
        assert!(tree.unsubscribe("a/b/c", 2));
        assert_eq!(tree.len(), 0);
        assert!(tree.is_pruned());
    }

    #[test]
    fn many_pending_branches_spill_and_still_match() {
        const LEVELS: usize = 3 * INLINE_VISITS;
        // Filters with `a` at one level and `+` everywhere else: walking the all-`+` path, every
        // level leaves its `a` branch pending, more than the inline worklist holds. And the
        // converse, `+` at one level and `a` elsewhere.
        let one_level = |k: usize, here: &'static str, elsewhere: &'static str| {
            let mut levels = vec![elsewhere; LEVELS];
            levels[k] = here;
            levels.join("/")
        };
        let mut filters: Vec<String> = (0..LEVELS)
            .flat_map(|k| [one_level(k, "a", "+"), one_level(k, "+", "a")])
            .collect();
        filters.push(vec!["a"; LEVELS].join("/"));
        filters.push(vec!["+"; LEVELS].join("/"));
        let mut tree = SubscriptionTree::default();
        for (i, f) in filters.iter().enumerate() {
            tree.subscribe(
                &TopicFilter::new(f).unwrap(),
                &session(i as u64),
                QoS::AtMostOnce.into(),
            );
        }
        for topic in [
            vec!["a"; LEVELS].join("/"),
            vec!["b"; LEVELS].join("/"),
            format!("b/{}", vec!["a"; LEVELS - 1].join("/")),
            vec!["a"; LEVELS - 1].join("/"),
        ] {
            let expected: Vec<u64> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| matches_str(f, &topic))
                .map(|(i, _)| i as u64)
                .collect();
            let got: Vec<u64> = matched(&tree, &topic)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(got, expected, "topic {topic}");
        }
    }

    #[test]
    fn deep_filters_do_not_recurse() {
        let mut tree = SubscriptionTree::default();
        let s = session(1);
        let deep = "a/".repeat(30_000) + "#";
        let filter = TopicFilter::new(&deep).unwrap();
        let result = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                tree.subscribe(&filter, &s, QoS::AtMostOnce.into());
                let topic = "a/".repeat(30_001) + "z";
                let mut out = Vec::new();
                tree.collect(&topic, &mut out);
                assert_eq!(out.len(), 1);
                assert!(tree.unsubscribe(filter.as_str(), 1));
                assert!(tree.is_pruned());
                tree.subscribe(&filter, &s, QoS::AtMostOnce.into());
                drop(tree);
            })
            .unwrap()
            .join();
        assert!(result.is_ok());
    }

    /// A share group yields one member per message, in turn, beside plain subscriptions to the
    /// same filter; removing the last member prunes the branch.
    #[test]
    fn shared_groups_give_one_member_per_message() {
        let mut tree = SubscriptionTree::default();
        let shared = |f: &str| TopicFilter::new(f).unwrap();
        let grant = Grant {
            shared: true,
            ..Grant::from(QoS::AtLeastOnce)
        };
        let (s1, s2, s3) = (session(1), session(2), session(3));
        tree.subscribe(&shared("$share/g/a/#"), &s1, grant);
        tree.subscribe(&shared("$share/g/a/#"), &s2, grant);
        tree.subscribe(&shared("$share/h/a/+"), &s3, grant);
        tree.subscribe(&shared("a/b"), &s3, QoS::AtMostOnce.into());
        assert_eq!(tree.len(), 4);
        let mut picked = Vec::new();
        for _ in 0..4 {
            let got = matched(&tree, "a/b");
            assert_eq!(got.len(), 3, "{got:?}");
            picked.extend(got.iter().map(|(id, _)| *id).filter(|id| *id != 3));
        }
        picked.sort_unstable();
        assert_eq!(picked, [1, 1, 2, 2], "members in turn");
        assert_eq!(matched(&tree, "x").len(), 0);
        assert!(!tree.unsubscribe("$share/other/a/#", 1));
        assert!(tree.unsubscribe("$share/g/a/#", 1));
        assert!(tree.unsubscribe("$share/g/a/#", 2));
        assert!(tree.unsubscribe("$share/h/a/+", 3));
        assert!(tree.unsubscribe("a/b", 3));
        assert!(tree.is_pruned());
        assert_eq!(split_shared("$share/g/a"), Some(("g", "a")));
        assert_eq!(split_shared("$share//a"), None);
        assert_eq!(split_shared("$share/g#/a"), None);
        assert_eq!(split_shared("$shared/g/a"), None);
    }
}
