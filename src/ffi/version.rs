//! The library version, for programs that load a libmqtt they were not compiled against.

use std::ffi::{CStr, c_char};

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

/// The version of the loaded library, e.g. "0.1.0" (compare with the `MQTT_VERSION` macro the
/// program was compiled with). Static; never NULL; must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn mqtt_version() -> *const c_char {
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_package_version() {
        let version = unsafe { CStr::from_ptr(mqtt_version()) };
        assert_eq!(version.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }
}
