//! Any current directory, argument, bucket prefix and home: the result never
//! leaves the home, is normalised, and is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3ftpd::namespace::{Root, VPath};

fuzz_target!(|input: (&str, &str, &str, &str)| {
    let (cwd, arg, prefix, home) = input;
    let Ok(cwd) = VPath::root().resolve(cwd) else { return };
    let Ok(p) = cwd.resolve(arg) else {
        assert!(arg.contains(['\0', '\r', '\n']));
        return;
    };
    let s = p.as_str();
    assert!(s.starts_with('/'));
    assert!(!s.contains("//"));
    assert!(!s.split('/').any(|seg| seg == "." || seg == ".."));
    assert!(!s.contains(['\0', '\r', '\n']));
    assert_eq!(VPath::root().resolve(s).unwrap(), p);
    let (Ok(base), Ok(root)) = (Root::new(prefix, "/"), Root::new(prefix, home)) else { return };
    assert!(root.base().starts_with(base.base()));
    if let Ok(key) = root.file_key(&p) {
        assert!(key.starts_with(root.base()));
        assert!(key.len() <= 1024);
    }
});
