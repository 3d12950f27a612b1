//! Any text as a rules file: it is accepted or refused with its problems, never a panic, and
//! an accepted file written back as TOML loads again with the same rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = levee_rules::RulesFile::parse("fuzz.toml", text, None) {
        if !file.list_files.is_empty() {
            return;
        }
        let written = file.to_toml("fuzz");
        let again = levee_rules::RulesFile::parse("fuzz.toml", &written, None)
            .unwrap_or_else(|e| panic!("{text:?} written as {written:?} is refused: {e}"));
        assert_eq!(again.rules.len(), file.rules.len());
        for (a, b) in again.rules.iter().zip(&file.rules) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.expression, b.expression, "rule {}", a.id);
        }
    }
});
