//! mosquitto password files, as written by `mosquitto_passwd` (mosquitto 2.x, e.g. Debian's).
//!
//! Each line is `USER:HASH`. Two hash formats exist (mosquitto's `src/password_mosq.c`):
//! - `$7$ITERATIONS$SALT$HASH` — PBKDF2-HMAC-SHA512 over the password with the salt, `ITERATIONS`
//!   rounds (`mosquitto_passwd` writes 101), 64 bytes out; mosquitto 2.x's default.
//! - `$6$SALT$HASH` — one SHA-512 of the password bytes followed by the salt bytes; mosquitto 1.x's
//!   format, still written by `mosquitto_passwd -H sha512`.
//!
//! `SALT` and `HASH` are standard base64; the salt must decode to 12 bytes and the hash to 64, as
//! mosquitto requires.
//!
//! What a line does, following mosquitto 2.0's `pwfile__parse` and `unpwd__decode_passwords`
//! (`src/security_default.c`):
//! - lines starting with `#` and lines without `:` are skipped (blank lines too);
//! - user name and hash are trimmed of surrounding blanks; text after a second `:` is ignored;
//! - an entry whose hash is malformed (unknown `$N$` type, iterations < 1, bad base64, wrong
//!   salt or hash length, empty) is *dropped*: mosquitto logs "removing entry" and keeps running,
//!   so that user simply cannot log in. We do the same and keep a warning naming the file and line
//!   ([`PasswordFile::warnings`]) for the broker to log.
//! - a user not in the file is refused ([`PasswordFile::check`] returns `false`), like mosquitto's
//!   `MOSQ_ERR_AUTH`; a CONNECT without a user name is not this file's business (mosquitto
//!   defers to `allow_anonymous`).
//!
//! Differences, on purpose: mosquitto hashes the password only up to its first NUL byte (it keeps
//! it as a C string); we hash all the bytes, so a password with an embedded NUL never matches the
//! hash of its prefix. When a user appears twice, the last valid line wins (mosquitto's hash table
//! makes that unspecified; `mosquitto_passwd` never writes duplicates) and a warning names both
//! lines. For a user not in the file we still run one PBKDF2 so the answer takes about as long as
//! for a known user, so response time does not tell which user names exist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::ConfigError;

/// Salt length mosquitto writes and insists on when reading (`SALT_LEN` in `password_mosq.h`).
const SALT_LEN: usize = 12;
/// SHA-512 output length; mosquitto requires the stored hash to have exactly this length.
const HASH_LEN: usize = 64;
/// `mosquitto_passwd`'s iteration count (`PW_DEFAULT_ITERATIONS`), used for the dummy hash that
/// keeps unknown users as slow as known ones.
const DEFAULT_ITERATIONS: u32 = 101;
/// mosquitto skips user names and hashes longer than this (the MQTT string limit).
const MAX_FIELD_LEN: usize = 65535;

/// OpenSSL's base64 decoder (used by mosquitto) does not insist on padding; neither do we.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes one base64 field that must hold exactly `N` bytes, as mosquitto checks the salt (12)
/// and hash (64) lengths.
fn decode_exact<const N: usize>(field: Option<&str>, what: &str) -> Result<[u8; N], String> {
    let field = field.ok_or_else(|| format!("missing password {what}"))?;
    BASE64
        .decode(field)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| format!("unable to decode password {what} (expected {N} bytes of base64)"))
}

/// How one user's password is stored.
#[derive(Clone)]
enum Hash {
    /// `$6$`: SHA-512(password || salt).
    Sha512 {
        salt: [u8; SALT_LEN],
        hash: [u8; HASH_LEN],
    },
    /// `$7$`: PBKDF2-HMAC-SHA512(password, salt, iterations), 64 bytes.
    Pbkdf2Sha512 {
        iterations: u32,
        salt: [u8; SALT_LEN],
        hash: [u8; HASH_LEN],
    },
}

impl Hash {
    /// Parses the part after `user:`; the error is the reason, in mosquitto's words where it has
    /// some ("Invalid password hash type", "Unable to decode password salt", ...).
    fn parse(text: &str) -> Result<Hash, String> {
        // mosquitto splits with strtok on '$', so empty fields between '$'s are skipped; a
        // leading '$' is what mosquitto_passwd writes.
        let mut fields = text.split('$').filter(|f| !f.is_empty());
        let kind = fields.next().ok_or("empty password hash")?;
        let iterations = match kind {
            "6" => None,
            "7" => {
                let it = fields.next().ok_or("missing iteration count in $7$ hash")?;
                match it.parse::<u32>() {
                    Ok(n) if n >= 1 => Some(n),
                    _ => return Err(format!("invalid hash iterations {it:?} (must be >= 1)")),
                }
            }
            other => {
                return Err(format!(
                    "invalid password hash type {other:?} (expected $6$ or $7$; \
                     plain-text entries must be hashed with mosquitto_passwd -U)"
                ));
            }
        };
        let salt = decode_exact(fields.next(), "salt")?;
        let hash = decode_exact(fields.next(), "hash")?;
        Ok(match iterations {
            None => Hash::Sha512 { salt, hash },
            Some(iterations) => Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            },
        })
    }

    /// Whether `password` hashes to the stored value; the comparison takes the same time
    /// wherever the first differing byte is.
    fn verify(&self, password: &[u8]) -> bool {
        let mut out = [0u8; HASH_LEN];
        let stored = match self {
            Hash::Sha512 { salt, hash } => {
                let mut h = Sha512::new();
                h.update(password);
                h.update(salt);
                out.copy_from_slice(&h.finalize());
                hash
            }
            Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                hash
            }
        };
        out.ct_eq(stored).into()
    }
}

/// A loaded password file: user name → stored hash.
///
/// Immutable once loaded; reload by loading again and swapping (see the [module](super) docs).
/// Checking costs one hash: one SHA-512 for `$6$`, `ITERATIONS` HMAC-SHA512 pairs for `$7$`
/// (about 0.1 ms for mosquitto_passwd's 101), so it belongs in the CONNECT path, not per message.
#[derive(Clone)]
pub struct PasswordFile {
    origin: PathBuf,
    users: HashMap<String, Hash>,
    warnings: Vec<ConfigError>,
}

impl std::fmt::Debug for PasswordFile {
    // No hashes in logs: list only the file and how many users it has.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordFile")
            .field("origin", &self.origin)
            .field("users", &self.users.len())
            .field("warnings", &self.warnings.len())
            .finish()
    }
}

impl PasswordFile {
    /// Reads and parses the file at `path`. Only an unreadable file (or a line that is not UTF-8)
    /// is an error; malformed entries are dropped with a warning, as mosquitto does.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswordFile, ConfigError> {
        let path = path.as_ref();
        Ok(Self::parse(&super::read_text(path)?, path))
    }

    /// Parses `text` as a password file; `origin` names it in warnings (a path, or a label such
    /// as `"<inline>"`). Never fails: see the [module](self) docs for what happens to bad lines.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> PasswordFile {
        let origin = origin.as_ref();
        let mut users = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        let mut warnings = Vec::new();
        for (number, line) in super::numbered_lines(text) {
            if line.starts_with('#') {
                continue;
            }
            // mosquitto ignores lines without ':' silently; blank lines are the usual case.
            let Some((user, rest)) = line.split_once(':') else {
                if !line.trim().is_empty() {
                    warnings.push(ConfigError::invalid(
                        origin,
                        number,
                        "line ignored: no ':' between user name and password hash",
                    ));
                }
                continue;
            };
            let user = user.trim();
            let hash = rest.split(':').next().unwrap_or("").trim();
            let problem = if user.is_empty() {
                Some("entry ignored: empty user name".to_owned())
            } else if user.len() > MAX_FIELD_LEN {
                Some("entry ignored: user name too long".to_owned())
            } else if hash.len() > MAX_FIELD_LEN {
                Some(format!(
                    "entry for user {user:?} ignored: password too long"
                ))
            } else {
                match Hash::parse(hash) {
                    Ok(parsed) => {
                        if let Some(previous) = first_line.insert(user.to_owned(), number) {
                            warnings.push(ConfigError::invalid(
                                origin,
                                number,
                                format!(
                                    "user {user:?} appears again (first on line {previous}); \
                                     this later entry is used"
                                ),
                            ));
                        }
                        users.insert(user.to_owned(), parsed);
                        None
                    }
                    Err(reason) => Some(format!(
                        "entry for user {user:?} removed: {reason}; this user cannot log in"
                    )),
                }
            };
            if let Some(reason) = problem {
                warnings.push(ConfigError::invalid(origin, number, reason));
            }
        }
        PasswordFile {
            origin: origin.to_path_buf(),
            users,
            warnings,
        }
    }

    /// Whether `username` may log in with `password` (the CONNECT password field's bytes).
    ///
    /// `false` for a user not in the file and for a wrong password; the hash comparison is
    /// constant-time. A CONNECT that carries a user name but no password field must be refused
    /// without calling this (mosquitto does: `MOSQ_ERR_AUTH`), see [`check_connect`](Self::check_connect).
    pub fn check(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                // Spend about the time a known user costs, so timing does not reveal which
                // names exist; the result is thrown away.
                let dummy = Hash::Pbkdf2Sha512 {
                    iterations: DEFAULT_ITERATIONS,
                    salt: [0; SALT_LEN],
                    hash: [0; HASH_LEN],
                };
                let _ = dummy.verify(password);
                false
            }
        }
    }

    /// [`check`](Self::check) with the CONNECT's optional password field: a user name without a
    /// password is refused, as mosquitto refuses it for a user listed in the file.
    pub fn check_connect(&self, username: &str, password: Option<&[u8]>) -> bool {
        match password {
            Some(p) => self.check(username, p),
            None => {
                // Same timing as a wrong password.
                let _ = self.check(username, b"");
                false
            }
        }
    }

    /// Whether `username` has a (valid) entry; lets a caller fall back to its own authenticator
    /// for users the file does not know ("files first, then the callback").
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// Number of users with a valid entry.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user has a valid entry (every CONNECT with a user name will be refused).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The path (or label) the file was loaded from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Lines that were ignored or entries that were dropped, each naming file and line, for the
    /// broker to log at load time (mosquitto logs them as errors and goes on).
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Debian's mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b F alice secret`,
    // `-H sha512 -b F bob hunter2`, `-I 5 -b F carol x`.
    const FILE: &str = "\
alice:$7$101$OaapJhSAedg5Gmh+$sE6MEueqqOZHEzn4x6PouHOuXTRXp1XaqDlN8XXmOBUSgmIalKaAxZmV5sr3vWI8dvQ5t1OT12x0OPncjhez+A==
bob:$6$lgoZ8hnJy3mWNT6S$PPJ0g14VJxRy+IWXLf0W28pVztr/PsWnyOvfUnMC5dR7B720nNnGS7Ger16RuiGgacom3uXCLYQD47EZYwnlBA==
carol:$7$5$xZlaKrwr3p5KUIFl$GF+onClbXyarMG9zAvS7J7/QUpjUdEMjyXEFSlF0ZCVFnXC4d9tr5zZsCe160V+WaaMb42AFFxNoO6gHXSZxyA==
";

    #[test]
    fn verifies_mosquitto_passwd_entries() {
        let f = PasswordFile::parse(FILE, "<test>");
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert_eq!(f.len(), 3);
        assert!(f.check("alice", b"secret"));
        assert!(!f.check("alice", b"Secret"));
        assert!(!f.check("alice", b""));
        assert!(f.check("bob", b"hunter2"));
        assert!(!f.check("bob", b"hunter3"));
        assert!(f.check("carol", b"x"));
        assert!(!f.check("carol", b"xx"));
    }

    #[test]
    fn unknown_user_and_missing_password_are_refused() {
        let f = PasswordFile::parse(FILE, "<test>");
        assert!(!f.check("mallory", b"secret"));
        assert!(!f.contains("mallory"));
        assert!(f.contains("alice"));
        assert!(!f.check_connect("alice", None));
        assert!(f.check_connect("alice", Some(b"secret")));
        // User names are case-sensitive, as in mosquitto's hash lookup.
        assert!(!f.check("Alice", b"secret"));
    }

    #[test]
    fn embedded_nul_does_not_match_the_prefix() {
        let f = PasswordFile::parse(FILE, "<test>");
        assert!(!f.check("alice", b"secret\0more"));
    }

    #[test]
    fn comments_blank_lines_and_blanks_around_fields() {
        let text = format!(
            "# comment\n\n  {}",
            FILE.lines().next().unwrap().replace(':', " : ")
        );
        let f = PasswordFile::parse(&text, "<test>");
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert!(f.check("alice", b"secret"));
    }

    #[test]
    fn malformed_entries_are_dropped_with_a_warning_naming_the_line() {
        let good = FILE.lines().next().unwrap();
        let text = format!(
            "{good}\nplain:secret\nbadtype:$5$abc$def\nzero:$7$0$OaapJhSAedg5Gmh+$AAAA\n\
             shortsalt:$6$AAAA$AAAA\nempty:\nnocolon\n:$6$x$y\n"
        );
        let f = PasswordFile::parse(&text, "pw.txt");
        assert_eq!(f.len(), 1);
        assert!(f.check("alice", b"secret"));
        for user in ["plain", "badtype", "zero", "shortsalt", "empty"] {
            assert!(!f.contains(user), "{user}");
            assert!(!f.check(user, b"secret"));
        }
        let shown: Vec<String> = f.warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(shown.len(), 7, "{shown:#?}");
        assert!(
            shown[0].starts_with(
                "pw.txt:2: entry for user \"plain\" removed: invalid password hash type"
            )
        );
        assert!(shown[1].starts_with("pw.txt:3: "));
        assert!(
            shown[2].contains("invalid hash iterations \"0\""),
            "{}",
            shown[2]
        );
        assert!(
            shown[3].contains("unable to decode password salt"),
            "{}",
            shown[3]
        );
        assert!(shown[4].contains("empty password hash"), "{}", shown[4]);
        assert!(
            shown[5].starts_with("pw.txt:7: line ignored"),
            "{}",
            shown[5]
        );
        assert!(shown[6].contains("empty user name"), "{}", shown[6]);
    }

    #[test]
    fn duplicate_user_last_entry_wins_with_a_warning() {
        let mut lines = FILE.lines();
        let alice = lines.next().unwrap();
        let bob = lines.next().unwrap().replacen("bob", "alice", 1);
        let f = PasswordFile::parse(&format!("{alice}\n{bob}\n"), "f");
        assert!(f.check("alice", b"hunter2"));
        assert!(!f.check("alice", b"secret"));
        assert_eq!(f.warnings().len(), 1);
        assert!(f.warnings()[0].to_string().contains("first on line 1"));
    }

    #[test]
    fn load_names_the_missing_file() {
        let e = PasswordFile::load("/nonexistent/pwfile").unwrap_err();
        assert_eq!(e.kind, crate::service::ConfigErrorKind::Io);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/pwfile: cannot read")
        );
    }
}
