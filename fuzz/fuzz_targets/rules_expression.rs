//! Any text as a rule expression: parsing never panics; an expression that parses prints as
//! text that parses again to the same expression (the printed form is what `rules compile`
//! and `analyze --rules-out` write); an error renders with its place and caret without
//! panicking, whatever characters the text holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match levee_rules::parse_plain(src) {
        Ok(expr) => {
            let printed = expr.to_string();
            let again = levee_rules::parse_plain(&printed)
                .unwrap_or_else(|e| panic!("{src:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(
                again.to_string(),
                printed,
                "{src:?}: printing is not a fixed point"
            );
            assert_eq!(again, expr, "{src:?} printed as {printed:?} parses differently");
        }
        Err(e) => {
            let _ = e.render("fuzz", src);
            let _ = e.render_at("fuzz:1:1", src);
        }
    }
});
