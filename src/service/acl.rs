//! mosquitto ACL files (`acl_file`), with mosquitto 2.x's semantics.
//!
//! # Format (mosquitto.conf(5), "acl_file"; parser: `aclfile__parse` in `src/security_default.c`)
//! ```text
//! # rules before the first `user` line apply to clients without a user name
//! topic read $SYS/#
//! user alice
//! topic readwrite alice/#      (access: read, write, readwrite or deny; none = readwrite)
//! topic deny alice/secret
//! pattern write sensors/%u/%c/# (applies to every client, %c = client id, %u = user name)
//! ```
//! A line is a `topic`, `pattern` or `user` line, a comment (`#` first) or blank; anything else is
//! an error that stops the load, as mosquitto refuses to start on it. `topic ACCESS FILTER` takes
//! the rest of the line as the filter (so it may contain spaces); `topic FILTER` alone means
//! readwrite. Filters must be valid topic filters. `user NAME` takes the rest of the line as the
//! name; every `topic` line after it, up to the next `user` line, belongs to that user (rules for a
//! name given twice are merged). `pattern` lines apply to all users wherever they appear.
//! Leniencies: we accept tabs as separators and comments after leading blanks, which mosquitto
//! rejects; nothing that mosquitto accepts is refused.
//!
//! # Decision (mosquitto 2.0's `mosquitto_acl_check_default`)
//! For a client with user name `U` (or none) and client id `C`, checking `TOPIC` for read or write:
//! 1. The client's own rules: those of `user U`, or the anonymous section when it has no user
//!    name (a user name not in the file has none). If a `deny` rule matches TOPIC: **denied**.
//!    Else if a matching rule grants the access (`readwrite` grants both): **allowed**. A matching
//!    rule for the other access (a `read` rule when writing) decides nothing.
//! 2. If the file has `pattern` lines and `U` or `C` contains `+` or `#`: **denied** (mosquitto:
//!    "ACL denying access to client with dangerous username/client id"; without it a client could
//!    pick a wildcard user name to widen a pattern). A `/` in `U` or `C` is *not* refused: it is
//!    substituted as is and so spans levels (user `a/b` with `pattern readwrite home/%u/#` gets
//!    `home/a/b/#`, which lies inside user `a`'s `home/a/#`); refuse such names at CONNECT if
//!    that matters.
//! 3. The patterns, with `%c` → C and `%u` → U substituted (patterns with `%u` are skipped for a
//!    client without a user name): deny first, then grant, as in step 1.
//! 4. Nothing matched: **denied**. An ACL file with no rules at all denies everything.
//!
//! Within one list the order of lines does not matter: mosquitto moves `deny` rules to the front
//! and takes the first match, which is the same as "any matching deny wins, else any matching
//! grant". Filters are matched as MQTT matches them (`a/#` matches `a`; a leading wildcard does not
//! match `$` topics).
//!
//! mosquitto checks reads when it delivers each message to a subscriber and writes when a client
//! publishes; the broker should do the same with [`ClientAcl::check`]. mosquitto 2.0's default ACL
//! does *not* check SUBSCRIBE at all (its code says "FIXME - implement ACL subscription strings"),
//! it grants the subscription and then filters what is delivered. Issue 18 wants SUBACK 0x80 when
//! no message could ever be delivered: [`ClientAcl::may_ever_read`] answers that, conservatively
//! (it may say yes when in truth nothing could be read, then delivery filtering still applies; it
//! never says no when something could be read). mosquitto exempts bridge connections from the
//! ACL; so should the broker.
//!
//! # Cost
//! Rules are indexed per user (a hash map from user name to that user's rules) and each rule list
//! is compiled into a topic trie, so a check walks the topic's levels once through the trie:
//! O(L) hash lookups for a topic of L levels, plus one more branch per `+` rule that matches at a
//! level — independent of the number of rules in the file (1,000 users × 10 rules each costs the
//! same per message as 1 rule). Patterns depend on the client, so [`AclFile::for_client`]
//! substitutes them once (O(P·pattern length) for P patterns) into a per-client trie: the broker
//! should call it once at CONNECT and keep the [`ClientAcl`] with the session.
//! [`AclFile::check`] does the same through a small internal cache keyed by client id.
//! [`ClientAcl::may_ever_read`] (per SUBSCRIBE, not per message) scans the client's rules once:
//! O(R·L) for R rules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::ConfigError;
use crate::topic::TopicFilter;

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAccess {
    /// Receive a message published on the topic (checked per delivered message).
    Read,
    /// Publish on the topic (checked per PUBLISH).
    Write,
}

/// The access a rule line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAccess {
    /// `read`
    Read,
    /// `write`
    Write,
    /// `readwrite`, or no access word.
    ReadWrite,
    /// `deny`: a matching deny rule refuses both read and write, whatever else matches.
    Deny,
}

impl RuleAccess {
    fn grants(self, access: AclAccess) -> bool {
        matches!(
            (self, access),
            (RuleAccess::ReadWrite, _)
                | (RuleAccess::Read, AclAccess::Read)
                | (RuleAccess::Write, AclAccess::Write)
        )
    }
}

/// What the rules matching one topic say, merged: whether any denies, reads, writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Verdict {
    deny: bool,
    read: bool,
    write: bool,
}

impl Verdict {
    fn add(&mut self, access: RuleAccess) {
        match access {
            RuleAccess::Read => self.read = true,
            RuleAccess::Write => self.write = true,
            RuleAccess::ReadWrite => {
                self.read = true;
                self.write = true;
            }
            RuleAccess::Deny => self.deny = true,
        }
    }

    fn merge(&mut self, other: Verdict) {
        self.deny |= other.deny;
        self.read |= other.read;
        self.write |= other.write;
    }

    /// `Some(answer)` when the list decides, `None` to go on to the next list.
    fn decide(self, access: AclAccess) -> Option<bool> {
        if self.deny {
            Some(false)
        } else if match access {
            AclAccess::Read => self.read,
            AclAccess::Write => self.write,
        } {
            Some(true)
        } else {
            None
        }
    }
}

/// The hash of the trie's topic levels: a multiply-rotate over 8-byte words, a fraction of the
/// default SipHash's instructions on short levels (a check hashes one level per trie node it
/// enters, for every message). Its keys are the ACL file's levels, chosen by the administrator;
/// clients' topics are only looked up, so no client can fill a map with colliding keys, which is
/// what SipHash guards against.
#[derive(Debug, Default, Clone, Copy)]
struct LevelHasher(u64);

type LevelHash = std::hash::BuildHasherDefault<LevelHasher>;

impl LevelHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for LevelHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, byte: u8) {
        // `str` hashes as its bytes and then 0xff; the length is already mixed in.
        self.mix(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The levels of a topic name, `/`-separated: what `str::split('/')` gives, with a plain byte
/// scan (levels are short, and the generic searcher costs more than the scan), and where in the
/// topic the next level starts.
#[derive(Clone, Copy)]
struct Levels<'t> {
    topic: &'t str,
    /// Byte offset of the next level; `None` once every level was given.
    at: Option<usize>,
}

impl<'t> Levels<'t> {
    fn of(topic: &'t str) -> Self {
        Levels { topic, at: Some(0) }
    }
}

impl<'t> Iterator for Levels<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let start = self.at?;
        let rest = &self.topic[start..];
        match rest.bytes().position(|b| b == b'/') {
            Some(slash) => {
                self.at = Some(start + slash + 1);
                Some(&rest[..slash])
            }
            None => {
                self.at = None;
                Some(rest)
            }
        }
    }
}

/// How much of a topic a trie walk looked at: the verdict is the same for every topic that
/// starts with the first `needed` bytes, unless `whole` (a filter ended exactly where the topic
/// did, or the last level was looked up by value).
#[derive(Debug, Default, Clone, Copy)]
struct Reach {
    needed: usize,
    whole: bool,
}

impl Reach {
    fn need(&mut self, bytes: usize) {
        self.needed = self.needed.max(bytes);
    }

    /// The length of the deciding prefix (at least the first byte, which says whether the topic
    /// starts with `$`), or `None` when the verdict depends on the whole topic.
    fn prefix(self) -> Option<usize> {
        (!self.whole).then_some(self.needed.max(1))
    }
}

/// A topic trie of filters: each node holds the merged verdict of the filters ending there and of
/// those ending in `#` there.
#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node, LevelHash>,
    plus: Option<Box<Node>>,
    /// Filters ending at this node (`a/b` at node `a`→`b`).
    here: Verdict,
    /// Filters ending with `#` below this node (`a/#` at node `a`); they also match the node.
    hash: Verdict,
}

impl Node {
    fn insert(&mut self, filter: &str, access: RuleAccess) {
        let mut node = self;
        for level in filter.split('/') {
            match level {
                "#" => {
                    node.hash.add(access);
                    return;
                }
                "+" => node = node.plus.get_or_insert_with(Default::default),
                literal => node = node.children.entry(literal.into()).or_default(),
            }
        }
        node.here.add(access);
    }

    /// Merges into `out` the verdicts of every filter in the trie matching the remaining `levels`.
    /// `root_of_dollar` is true at the root for a topic starting with `$`, where wildcards do not
    /// match ([MQTT-4.7.2-1]).
    ///
    /// `reach` is told how much of the topic the verdict depends on: a level looked up among the
    /// children counts whole (with the `/` after it); below a node without children only the
    /// existence of a next level counts.
    fn collect(
        &self,
        mut levels: Levels<'_>,
        root_of_dollar: bool,
        out: &mut Verdict,
        reach: &mut Reach,
    ) {
        if !root_of_dollar {
            out.merge(self.hash);
        }
        let start = levels.at;
        match levels.next() {
            None => {
                out.merge(self.here);
                reach.whole = true;
            }
            Some(level) => {
                if self.children.is_empty() {
                    // `a/#` ends at `a`: whatever this level is, nothing below can match.
                    reach.need(start.unwrap_or(0));
                } else {
                    match levels.at {
                        Some(next) => reach.need(next),
                        None => reach.whole = true,
                    }
                    if let Some(child) = self.children.get(level) {
                        child.collect(levels, false, out, reach);
                    }
                }
                if let (Some(plus), false) = (&self.plus, root_of_dollar) {
                    plus.collect(levels, false, out, reach);
                }
            }
        }
    }
}

/// One list of rules (a user's, the anonymous section's, or a client's substituted patterns):
/// the lines, for [`ClientAcl::may_ever_read`], and their trie, for checks.
#[derive(Debug, Default)]
struct RuleSet {
    rules: Vec<(Box<str>, RuleAccess)>,
    trie: Node,
}

impl RuleSet {
    fn add(&mut self, filter: &str, access: RuleAccess) {
        self.trie.insert(filter, access);
        self.rules.push((filter.into(), access));
    }

    fn verdict(&self, topic: &str) -> Verdict {
        self.verdict_reach(topic).0
    }

    /// The verdict for `topic`, and the length of the topic prefix that decides it (see
    /// [`Reach::prefix`]).
    fn verdict_reach(&self, topic: &str) -> (Verdict, Option<usize>) {
        let mut out = Verdict::default();
        let mut reach = Reach::default();
        self.trie.collect(
            Levels::of(topic),
            topic.starts_with('$'),
            &mut out,
            &mut reach,
        );
        (out, reach.prefix())
    }
}

/// A `pattern` line, before substitution.
#[derive(Debug, Clone)]
struct Pattern {
    filter: Box<str>,
    access: RuleAccess,
    uses_username: bool,
}

/// Replaces `%c` with the client id and `%u` with the user name, left to right as mosquitto
/// does; any other `%` stays. `%u` is only replaced when there is a user name (patterns using it
/// are skipped otherwise).
fn substitute(filter: &str, client_id: &str, username: Option<&str>) -> String {
    let mut out = String::with_capacity(filter.len() + client_id.len());
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek(), username) {
            ('%', Some('c'), _) => {
                chars.next();
                out.push_str(client_id);
            }
            ('%', Some('u'), Some(user)) => {
                chars.next();
                out.push_str(user);
            }
            _ => out.push(c),
        }
    }
    out
}

/// How many client ACLs [`AclFile::check`] keeps before starting afresh; a broker with more
/// clients than this should hold a [`ClientAcl`] per connection instead.
const CACHE_LIMIT: usize = 4096;

/// A loaded ACL file. Immutable once loaded (the cache aside); reload by loading again and
/// swapping, then recompiling each connected client's [`ClientAcl`].
#[derive(Debug)]
pub struct AclFile {
    origin: PathBuf,
    /// Rules before the first `user` line, for clients without a user name.
    anonymous: Option<Arc<RuleSet>>,
    users: HashMap<String, Arc<RuleSet>>,
    patterns: Vec<Pattern>,
    warnings: Vec<ConfigError>,
    /// Client id → (user name, compiled ACL), for [`AclFile::check`] when there are patterns.
    cache: Mutex<HashMap<String, CachedClient>>,
}

/// A cache entry of [`AclFile::check`]: the user name the ACL was compiled for, and the ACL.
type CachedClient = (Option<String>, Arc<ClientAcl>);

impl AclFile {
    /// Reads and parses the ACL file at `path`; see the [module](self) docs for the format.
    pub fn load(path: impl AsRef<Path>) -> Result<AclFile, ConfigError> {
        let path = path.as_ref();
        Self::parse(&super::read_text(path)?, path)
    }

    /// Parses `text`; `origin` names it in errors (a path, or a label such as `"<inline>"`).
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<AclFile, ConfigError> {
        let origin = origin.as_ref();
        let mut anonymous: Option<RuleSet> = None;
        let mut users: HashMap<String, RuleSet> = HashMap::new();
        let mut patterns = Vec::new();
        let mut warnings = Vec::new();
        let mut user: Option<String> = None;
        let is_blank = |c: char| c == ' ' || c == '\t';
        for (number, line) in super::numbered_lines(text) {
            let line = line.trim_matches(is_blank);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line.split_once(is_blank).unwrap_or((line, ""));
            let rest = rest.trim_matches(is_blank);
            match keyword {
                "topic" | "pattern" => {
                    if rest.is_empty() {
                        return Err(ConfigError::invalid(
                            origin,
                            number,
                            format!("empty topic in `{keyword}` line"),
                        ));
                    }
                    // `topic FILTER` alone is readwrite; otherwise the first word is the access
                    // and the rest of the line the filter (mosquitto: strtok then "rest of line").
                    let (access, filter) = match rest.split_once(is_blank) {
                        None => (RuleAccess::ReadWrite, rest),
                        Some((word, filter)) => {
                            let access = match word {
                                "read" => RuleAccess::Read,
                                "write" => RuleAccess::Write,
                                "readwrite" => RuleAccess::ReadWrite,
                                "deny" => RuleAccess::Deny,
                                other => {
                                    return Err(ConfigError::invalid(
                                        origin,
                                        number,
                                        format!(
                                            "invalid topic access type {other:?} \
                                             (expected read, write, readwrite or deny)"
                                        ),
                                    ));
                                }
                            };
                            (access, filter.trim_matches(is_blank))
                        }
                    };
                    if let Err(e) = TopicFilter::validate(filter) {
                        return Err(ConfigError::invalid(
                            origin,
                            number,
                            format!("invalid ACL topic {filter:?}: {e}"),
                        ));
                    }
                    if keyword == "topic" {
                        let set = match &user {
                            Some(name) => users.entry(name.clone()).or_default(),
                            None => anonymous.get_or_insert_with(RuleSet::default),
                        };
                        set.add(filter, access);
                    } else {
                        let uses_username = filter.contains("%u");
                        if !uses_username && !filter.contains("%c") {
                            // mosquitto warns too: such a pattern applies to everyone alike.
                            warnings.push(ConfigError::invalid(
                                origin,
                                number,
                                format!("ACL pattern {filter:?} does not contain %c or %u"),
                            ));
                        }
                        patterns.push(Pattern {
                            filter: filter.into(),
                            access,
                            uses_username,
                        });
                    }
                }
                "user" => {
                    if rest.is_empty() {
                        return Err(ConfigError::invalid(
                            origin,
                            number,
                            "missing user name after `user`",
                        ));
                    }
                    user = Some(rest.to_owned());
                }
                other => {
                    return Err(ConfigError::invalid(
                        origin,
                        number,
                        format!(
                            "invalid line: unknown keyword {other:?} (expected topic, pattern or user)"
                        ),
                    ));
                }
            }
        }
        Ok(AclFile {
            origin: origin.to_path_buf(),
            anonymous: anonymous.map(Arc::new),
            users: users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            patterns,
            warnings,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The rules of `username`, or the anonymous section's for a client without one.
    fn own_rules(&self, username: Option<&str>) -> Option<&Arc<RuleSet>> {
        match username {
            Some(name) => self.users.get(name),
            None => self.anonymous.as_ref(),
        }
    }

    /// Compiles what the file says for one client: its own rules and the patterns substituted
    /// with its client id and user name. Call once per connection (again after a reload) and ask
    /// the result per message.
    pub fn for_client(&self, client_id: &str, username: Option<&str>) -> ClientAcl {
        let patterns = if self.patterns.is_empty() {
            PatternStage::None
        } else if username.is_some_and(|u| u.contains(['+', '#'])) || client_id.contains(['+', '#'])
        {
            PatternStage::DenyAll
        } else {
            let mut set = RuleSet::default();
            for p in &self.patterns {
                if p.uses_username && username.is_none() {
                    continue;
                }
                set.add(&substitute(&p.filter, client_id, username), p.access);
            }
            PatternStage::Rules(set)
        };
        ClientAcl {
            own: self.own_rules(username).cloned(),
            patterns,
        }
    }

    /// Whether the client may `access` `topic` (a topic name, no wildcards): write when it
    /// publishes, read for each message delivered to it. See the [module](self) docs for the rules.
    ///
    /// Without `pattern` lines this is a hash lookup and a trie walk. With patterns it goes through
    /// a cache of compiled [`ClientAcl`]s keyed by client id (one short lock); a broker can avoid
    /// even that by keeping the result of [`for_client`](Self::for_client) per connection.
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: AclAccess,
    ) -> bool {
        if self.patterns.is_empty() {
            return self
                .own_rules(username)
                .and_then(|own| own.verdict(topic).decide(access))
                .unwrap_or(false);
        }
        self.cached(client_id, username).check(topic, access)
    }

    /// Whether a subscription to `filter` could ever receive a message for this client; `false`
    /// means refuse the SUBSCRIBE (SUBACK 0x80). See [`ClientAcl::may_ever_read`].
    pub fn may_ever_read(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        self.for_client(client_id, username).may_ever_read(filter)
    }

    fn cached(&self, client_id: &str, username: Option<&str>) -> Arc<ClientAcl> {
        let mut cache = self.cache.lock();
        if let Some((user, acl)) = cache.get(client_id)
            && user.as_deref() == username
        {
            return acl.clone();
        }
        let acl = Arc::new(self.for_client(client_id, username));
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            client_id.to_owned(),
            (username.map(str::to_owned), acl.clone()),
        );
        acl
    }

    /// The path (or label) the file was loaded from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Lines that load but are probably mistakes (a `pattern` without `%c` or `%u`), naming file
    /// and line, for the broker to log as mosquitto does.
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }
}

/// The pattern part of a [`ClientAcl`].
#[derive(Debug)]
enum PatternStage {
    /// The file has no `pattern` lines.
    None,
    /// The client's id or user name holds `+` or `#`: patterns deny everything (mosquitto).
    DenyAll,
    /// The patterns with this client's `%c` and `%u` substituted.
    Rules(RuleSet),
}

/// What an [`AclFile`] says for one client (one client id and user name), compiled by
/// [`AclFile::for_client`]. Keep it with the connection; checks cost a trie walk per topic.
#[derive(Debug)]
pub struct ClientAcl {
    own: Option<Arc<RuleSet>>,
    patterns: PatternStage,
}

impl ClientAcl {
    /// Whether this client may `access` `topic` (a topic name); see the [module](self) docs.
    pub fn check(&self, topic: &str, access: AclAccess) -> bool {
        self.check_reach(topic, access).0
    }

    /// [`check`](Self::check), and the length of the topic prefix that decided it: every topic
    /// starting with those bytes gets the same answer (`None`: the answer depends on the whole
    /// topic). With a rule `readwrite sensors/#`, `sensors/` decides `sensors/1/temp`, so a
    /// connection publishing to a new topic every time can still remember its verdict.
    pub fn check_reach(&self, topic: &str, access: AclAccess) -> (bool, Option<usize>) {
        let (own, own_reach) = match &self.own {
            Some(own) => own.verdict_reach(topic),
            None => (Verdict::default(), Some(1)),
        };
        if let Some(answer) = own.decide(access) {
            return (answer, own_reach);
        }
        match &self.patterns {
            PatternStage::None | PatternStage::DenyAll => (false, own_reach),
            PatternStage::Rules(set) => {
                let (patterns, reach) = set.verdict_reach(topic);
                let both = own_reach.zip(reach).map(|(a, b)| a.max(b));
                (patterns.decide(access).unwrap_or(false), both)
            }
        }
    }

    /// Whether some topic matching `filter` (a valid topic filter) could be read by this client,
    /// i.e. whether to grant a SUBSCRIBE to it.
    ///
    /// Conservative: a `read`/`readwrite` rule whose filter overlaps `filter` makes the answer yes
    /// unless a `deny` rule that applies before it (the client's own deny rules, and for a pattern
    /// grant also the pattern deny rules) covers all of `filter` or all of the granting rule. The
    /// answer is no only when no message could pass [`check`](Self::check), so refusing
    /// the subscription never hides a message the client could have read. A yes may still let
    /// nothing through (a deny rule covering the overlap only in part); delivery checks filter then.
    pub fn may_ever_read(&self, filter: &str) -> bool {
        let own_denies: Vec<&str> = self
            .own
            .iter()
            .flat_map(|own| own.rules.iter())
            .filter(|(_, a)| *a == RuleAccess::Deny)
            .map(|(f, _)| &**f)
            .collect();
        let readable = |rules: &[(Box<str>, RuleAccess)], denies: &[&str]| {
            rules.iter().any(|(grant, access)| {
                access.grants(AclAccess::Read)
                    && intersects(grant, filter)
                    && !denies
                        .iter()
                        .any(|deny| covers(deny, filter) || covers(deny, grant))
            })
        };
        if let Some(own) = &self.own
            && readable(&own.rules, &own_denies)
        {
            return true;
        }
        match &self.patterns {
            PatternStage::None | PatternStage::DenyAll => false,
            PatternStage::Rules(set) => {
                let mut denies = own_denies;
                denies.extend(
                    set.rules
                        .iter()
                        .filter(|(_, a)| *a == RuleAccess::Deny)
                        .map(|(f, _)| &**f),
                );
                readable(&set.rules, &denies)
            }
        }
    }
}

/// Whether the first level is a literal starting with `$`: wildcards in the first level of the
/// other filter then cannot match it ([MQTT-4.7.2-1]).
fn dollar_first(filter: &str) -> bool {
    filter.starts_with('$')
}

/// Whether some topic name matches both filters.
fn intersects(a: &str, b: &str) -> bool {
    if (dollar_first(a) && b.starts_with(['+', '#']))
        || (dollar_first(b) && a.starts_with(['+', '#']))
    {
        return false;
    }
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            // One filter ended: the other matches the same topic only through a final `#`
            // (`a/#` matches `a`).
            (None, Some(_)) => return false,
            (Some(_), None) => return false,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Whether every topic name matching `inner` also matches `outer`.
fn covers(outer: &str, inner: &str) -> bool {
    if dollar_first(inner) && outer.starts_with(['+', '#']) {
        return false;
    }
    let (mut o, mut i) = (outer.split('/'), inner.split('/'));
    loop {
        match (o.next(), i.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            // `inner` goes on (or is `#`, which also matches the parent): more than `outer` takes.
            (None, Some(_)) => return false,
            // `inner` ended: `outer` takes that topic only if it continues with `#`.
            (Some(_), None) => return false,
            (Some("+"), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(x), Some(y)) if x == y && y != "+" => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AclAccess::{Read, Write};
    use super::*;

    fn acl(text: &str) -> AclFile {
        AclFile::parse(text, "acl").unwrap()
    }

    #[test]
    fn user_rules_by_access_kind() {
        let a = acl("user alice\n\
             topic read r/#\n\
             topic write w/#\n\
             topic readwrite rw/#\n\
             topic both/#\n");
        let c = |t, x| a.check("c1", Some("alice"), t, x);
        assert!(c("r/1", Read) && !c("r/1", Write));
        assert!(!c("w/1", Read) && c("w/1", Write));
        assert!(c("rw/1", Read) && c("rw/1", Write));
        // No access word: readwrite (mosquitto: "topic <topic>" grants read and write).
        assert!(c("both/x", Read) && c("both/x", Write));
        // `r/#` also matches `r` itself, as MQTT's `#` does.
        assert!(c("r", Read));
        // Nothing matched: denied.
        assert!(!c("other", Read) && !c("other", Write));
    }

    #[test]
    fn deny_wins_whatever_the_order() {
        // mosquitto puts deny rules at the front of each list.
        let a = acl("user u\ntopic readwrite a/#\ntopic deny a/secret\n");
        assert!(a.check("c", Some("u"), "a/open", Write));
        assert!(!a.check("c", Some("u"), "a/secret", Read));
        assert!(!a.check("c", Some("u"), "a/secret", Write));
        let b = acl("user u\ntopic deny a/+/x\ntopic read a/#\n");
        assert!(!b.check("c", Some("u"), "a/b/x", Read));
        assert!(b.check("c", Some("u"), "a/b/y", Read));
    }

    #[test]
    fn anonymous_section_is_for_clients_without_user_name() {
        let a = acl("# anonymous\ntopic read public/#\nuser bob\ntopic readwrite bob/#\n");
        assert!(a.check("anon", None, "public/x", Read));
        assert!(!a.check("anon", None, "public/x", Write));
        assert!(!a.check("anon", None, "bob/x", Read));
        // Named users do not get the anonymous rules...
        assert!(!a.check("c", Some("bob"), "public/x", Read));
        assert!(a.check("c", Some("bob"), "bob/x", Write));
        // ...nor do users not in the file get anything.
        assert!(!a.check("c", Some("carol"), "public/x", Read));
    }

    #[test]
    fn same_user_twice_merges_rules() {
        let a = acl("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic read c\n");
        assert!(a.check("x", Some("u"), "a", Read));
        assert!(a.check("x", Some("u"), "c", Read));
        assert!(!a.check("x", Some("u"), "b", Read));
    }

    #[test]
    fn patterns_substitute_client_id_and_user_name() {
        let a = acl("pattern readwrite clients/%c/#\npattern read users/%u/in\n");
        assert!(a.check("dev1", None, "clients/dev1/x", Write));
        assert!(!a.check("dev1", None, "clients/dev2/x", Write));
        assert!(a.check("dev1", Some("ann"), "users/ann/in", Read));
        assert!(!a.check("dev1", Some("ann"), "users/ann/in", Write));
        // %u patterns are skipped for clients without a user name.
        assert!(!a.check("dev1", None, "users//in", Read));
        assert!(!a.check("dev1", None, "users/%u/in", Read));
    }

    #[test]
    fn patterns_apply_to_every_user_after_own_rules() {
        // User rules are checked first: an own grant beats a pattern deny...
        let a = acl("user u\ntopic read p/u\npattern deny p/%u\npattern read q/%u\n");
        assert!(a.check("c", Some("u"), "p/u", Read));
        // ...and patterns apply to users with and without own rules.
        assert!(a.check("c", Some("u"), "q/u", Read));
        assert!(a.check("c", Some("w"), "q/w", Read));
        assert!(!a.check("c", Some("w"), "p/w", Read));
        // An own deny beats a pattern grant.
        let b = acl("user u\ntopic deny q/u\npattern read q/%u\n");
        assert!(!b.check("c", Some("u"), "q/u", Read));
    }

    #[test]
    fn wildcards_in_user_name_or_client_id_deny_patterns() {
        let a = acl("user a+b\ntopic read own\npattern readwrite home/%u/#\npattern read c/%c\n");
        // mosquitto: "ACL denying access to client with dangerous username".
        assert!(!a.check("c", Some("+"), "home/+/x", Read));
        assert!(!a.check("c", Some("#"), "home/x", Read));
        assert!(!a.check("c#", Some("ok"), "home/ok/x", Read));
        assert!(!a.check("+", None, "c/x", Read));
        // The user's own rules still apply before that.
        assert!(a.check("c", Some("a+b"), "own", Read));
        // A '/' is substituted as is and spans levels.
        assert!(a.check("c", Some("x/y"), "home/x/y/z", Write));
        assert!(!a.check("c", Some("x/y"), "home/x/z", Write));
    }

    #[test]
    fn dollar_topics_need_dollar_rules() {
        let a = acl("topic read #\ntopic read +/status\ntopic read $SYS/broker/#\n");
        assert!(a.check("c", None, "a/b", Read));
        assert!(!a.check("c", None, "$SYS/status", Read));
        assert!(!a.check("c", None, "$other/x", Read));
        assert!(a.check("c", None, "$SYS/broker/uptime", Read));
    }

    #[test]
    fn empty_file_denies_everything() {
        let a = acl("# nothing\n\n");
        assert!(!a.check("c", None, "a", Read));
        assert!(!a.check("c", Some("u"), "a", Write));
        assert!(!a.may_ever_read("c", None, "#"));
    }

    #[test]
    fn topic_with_spaces_and_single_word_forms() {
        let a = acl("topic read a b/c\ntopic read\n");
        assert!(a.check("c", None, "a b/c", Read));
        // `topic read` alone: the topic is "read", readwrite (mosquitto's parser does this).
        assert!(a.check("c", None, "read", Write));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = |text: &str| AclFile::parse(text, "acl.txt").unwrap_err().to_string();
        assert_eq!(
            e("topic read a\ntopic bogus a/b\n"),
            "acl.txt:2: invalid topic access type \"bogus\" (expected read, write, readwrite or deny)"
        );
        assert_eq!(e("\ntopic\n"), "acl.txt:2: empty topic in `topic` line");
        assert_eq!(e("user \n"), "acl.txt:1: missing user name after `user`");
        assert_eq!(
            e("topic read a/#/b\n"),
            "acl.txt:1: invalid ACL topic \"a/#/b\": '#' must be the last character and occupy a whole level"
        );
        assert_eq!(
            e("usr bob\n"),
            "acl.txt:1: invalid line: unknown keyword \"usr\" (expected topic, pattern or user)"
        );
    }

    #[test]
    fn pattern_without_substitution_warns() {
        let a = acl("pattern read fixed/topic\n");
        assert_eq!(a.warnings().len(), 1);
        assert_eq!(
            a.warnings()[0].to_string(),
            "acl:1: ACL pattern \"fixed/topic\" does not contain %c or %u"
        );
        assert!(a.check("c", None, "fixed/topic", Read));
    }

    #[test]
    fn substitution_is_left_to_right() {
        assert_eq!(
            substitute("a/%c/%u/%x/%%c", "id", Some("me")),
            "a/id/me/%x/%id"
        );
        assert_eq!(substitute("%u/%c", "id", None), "%u/id");
    }

    #[test]
    fn client_acl_and_cache_agree() {
        let a = acl("user u\ntopic read a/#\npattern write c/%c\n");
        let compiled = a.for_client("k", Some("u"));
        for (topic, access) in [
            ("a/x", Read),
            ("c/k", Write),
            ("c/j", Write),
            ("a/x", Write),
        ] {
            assert_eq!(
                compiled.check(topic, access),
                a.check("k", Some("u"), topic, access),
                "{topic}"
            );
        }
        // Same client id, other user: the cache must not answer for the old user.
        assert!(a.check("k", Some("u"), "a/x", Read));
        assert!(!a.check("k", Some("v"), "a/x", Read));
    }

    #[test]
    fn may_ever_read_intersects_filters() {
        let a = acl(
            "user u\ntopic read a/+/c\ntopic write w/#\ntopic deny a/secret/#\n\
             pattern read home/%u/#\n",
        );
        let m = |f| a.may_ever_read("k", Some("u"), f);
        assert!(m("a/b/c"));
        assert!(m("a/#"));
        assert!(m("+/+/c"));
        assert!(m("#"));
        assert!(!m("a/b"));
        assert!(!m("w/#"), "write-only rules never grant reading");
        assert!(!m("a/secret/c"), "covered by a deny rule");
        assert!(m("home/u/x"));
        assert!(m("home/+/x"));
        assert!(!m("home/v/x"));
        assert!(!m("$SYS/#"));
        // Nothing for a user unknown to the file except patterns.
        assert!(a.may_ever_read("k", Some("z"), "home/z"));
        assert!(!a.may_ever_read("k", Some("z"), "a/b/c"));
    }

    #[test]
    fn may_ever_read_own_deny_covers_pattern_grants() {
        let a = acl("user u\ntopic deny home/#\npattern read home/%u/#\n");
        assert!(!a.may_ever_read("k", Some("u"), "home/u/x"));
        assert!(a.may_ever_read("k", Some("v"), "home/v/x"));
    }

    #[test]
    fn filter_relations() {
        assert!(intersects("a/#", "a"));
        assert!(intersects("a/+", "+/b"));
        assert!(!intersects("a/+", "a"));
        assert!(!intersects("#", "$SYS/x"));
        assert!(intersects("$SYS/#", "$SYS/+"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/#"));
        assert!(covers("+/b", "x/b"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/+", "a"));
        assert!(!covers("#", "$SYS/#"));
        assert!(covers("#", "+/x"));
        assert!(!covers("a/b", "a/+"));
    }

    #[test]
    fn many_rules_check_quickly() {
        // 1,000 users with 5 rules each plus 5 patterns: one check is a trie walk.
        let mut text = String::from("pattern read p/%u/#\npattern write q/%c\n");
        for u in 0..1000 {
            text.push_str(&format!("user user{u}\n"));
            for r in 0..5 {
                text.push_str(&format!(
                    "topic readwrite t/{u}/{r}/#\ntopic deny t/{u}/{r}/x\n"
                ));
            }
        }
        let a = acl(&text);
        let client = a.for_client("id", Some("user500"));
        let start = std::time::Instant::now();
        for i in 0..100_000 {
            let topic = if i % 2 == 0 {
                "t/500/3/a/b"
            } else {
                "t/500/3/x"
            };
            assert_eq!(client.check(topic, Read), i % 2 == 0);
        }
        // Generous bound (a linear scan would be ~10,000 matches per check); catches a regression
        // to per-message scanning without being sensitive to a loaded machine.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod varying_topics {
    use super::AclAccess::{Read, Write};
    use super::*;

    /// bench/compare.sh's ACL file: 500 topic rules and 499 patterns that never match the load
    /// generator's topics, then the rule that lets them through.
    fn bench_acl() -> AclFile {
        let mut text = String::new();
        for n in 0..500 {
            text.push_str(&format!("topic readwrite elsewhere/{n}/#\n"));
        }
        for n in 0..499 {
            text.push_str(&format!("pattern readwrite devices/%c/{n}/+\n"));
        }
        text.push_str("topic readwrite loadgen/#\nuser someone\ntopic readwrite #\n");
        AclFile::parse(&text, "acl").unwrap()
    }

    /// The prefix `check_reach` reports decides: every topic starting with it gets the same
    /// answer, over rule sets with wildcards, patterns, deny rules and `$` topics.
    #[test]
    fn the_reported_prefix_decides() {
        let files = [
            "topic readwrite loadgen/#\ntopic deny loadgen/x/secret\n",
            "topic read a/+/c\ntopic write a/#\ntopic deny a/b\npattern read p/%c/#\n",
            "topic readwrite #\ntopic deny $SYS/#\ntopic read $SYS/broker/+\n",
            "topic read +/+\ntopic readwrite x\npattern write d/%c/+/q\npattern deny d/%c/z/#\n",
            "topic read a/b/c/d\ntopic deny a/+/c/#\ntopic write +/#\n",
        ];
        let words = [
            "a", "b", "c", "d", "x", "p", "id", "loadgen", "secret", "$SYS", "broker", "q", "z", "",
        ];
        let mut topics = Vec::new();
        for a in words {
            topics.push(a.to_owned());
            for b in words {
                topics.push(format!("{a}/{b}"));
                for c in ["c", "d", "secret", "q", "z", ""] {
                    topics.push(format!("{a}/{b}/{c}"));
                    topics.push(format!("{a}/{b}/{c}/d"));
                }
            }
        }
        topics.retain(|t| !t.is_empty());
        for text in files {
            let client = AclFile::parse(text, "acl").unwrap().for_client("id", None);
            for access in [Read, Write] {
                for topic in &topics {
                    let (allowed, reach) = client.check_reach(topic, access);
                    assert_eq!(allowed, client.check(topic, access));
                    let Some(n) = reach else { continue };
                    let prefix = &topic[..n];
                    for other in topics.iter().filter(|o| o.starts_with(prefix)) {
                        assert_eq!(
                            client.check(other, access),
                            allowed,
                            "{text:?} {access:?}: {topic:?} decided by {prefix:?}, but not {other:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn levels_split_as_str_split() {
        for topic in [
            "a",
            "a/b",
            "/a",
            "a/",
            "//",
            "",
            "sport/tennis/player1",
            "é/ü/x",
        ] {
            let ours: Vec<&str> = Levels::of(topic).collect();
            let std: Vec<&str> = topic.split('/').collect();
            assert_eq!(ours, std, "{topic:?}");
        }
    }

    #[test]
    fn a_new_topic_per_check_is_a_short_walk() {
        let client = bench_acl().for_client("lg1-0", None);
        let topics: Vec<String> = (0..100_000)
            .map(|i| format!("loadgen/1234/0/{i:08}"))
            .collect();
        let start = std::time::Instant::now();
        for topic in &topics {
            assert!(client.check(topic, Read) && client.check(topic, Write));
        }
        // About 40-70 ns here on a quiet machine: two map lookups and the split.
        let per_check = start.elapsed() / (2 * topics.len() as u32);
        eprintln!("{per_check:?} per check");
        assert!(!client.check("elsewhere2/x", Read));
        // A walk through 1,000 rules would take tens of µs per check; a trie walk takes well
        // under one even on a loaded machine.
        assert!(
            per_check < std::time::Duration::from_micros(2),
            "{per_check:?}"
        );
    }
}
