//! The password and ACL files in force, which a reload (`mqtt_broker_reload`, SIGHUP in the
//! broker program) replaces while clients stay connected, as mosquitto's SIGHUP does.
//!
//! New connections read the files current at their CONNECT; a connected client's compiled ACL
//! notices the new generation at its next check and is compiled again, so a rule removed by a
//! reload stops applying to everyone at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::service::ConfigError;
use crate::service::acl::AclFile;
use crate::service::passwd::PasswordFile;

pub(crate) struct ServiceFiles {
    current: RwLock<Files>,
    /// Bumped by every successful reload; connections compare it with the one they compiled.
    generation: AtomicU64,
}

#[derive(Clone)]
struct Files {
    passwords: Option<Arc<PasswordFile>>,
    acl: Option<Arc<AclFile>>,
}

impl ServiceFiles {
    pub(crate) fn new(passwords: Option<Arc<PasswordFile>>, acl: Option<Arc<AclFile>>) -> Self {
        ServiceFiles {
            current: RwLock::new(Files { passwords, acl }),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn passwords(&self) -> Option<Arc<PasswordFile>> {
        self.current.read().passwords.clone()
    }

    pub(crate) fn has_passwords(&self) -> bool {
        self.current.read().passwords.is_some()
    }

    /// The ACL file and the generation it belongs to.
    pub(crate) fn acl(&self) -> (Option<Arc<AclFile>>, u64) {
        let files = self.current.read();
        (files.acl.clone(), self.generation.load(Ordering::Acquire))
    }

    /// Cheap enough for every message: one atomic load.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads both files again from where they were loaded. Both are read before either is
    /// replaced, so an error (named by file and line) leaves the old ones in force.
    pub(crate) fn reload(&self) -> Result<(), ConfigError> {
        let old = self.current.read().clone();
        let passwords = match &old.passwords {
            Some(file) => Some(Arc::new(PasswordFile::load(file.origin())?)),
            None => None,
        };
        let acl = match &old.acl {
            Some(file) => Some(Arc::new(AclFile::load(file.origin())?)),
            None => None,
        };
        let mut current = self.current.write();
        *current = Files { passwords, acl };
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}
