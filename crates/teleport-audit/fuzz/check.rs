//! The cursor fuzz target's oracle, shared with the stable replay test
//! (`crates/teleport-audit/tests/fuzz_corpus.rs`), which feeds it the committed seeds.

use teleport_audit::Cursor;

/// Feeds `data` to [`Cursor::from_json`]: it must refuse it or accept it, never panic. An
/// accepted cursor must survive `to_json` -> `from_json` unchanged (the library writes cursors
/// it reads back), and its JSON must be a fixed point. Returns whether `data` was accepted.
pub(crate) fn check(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let cursor = match Cursor::from_json(text) {
        Ok(cursor) => cursor,
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"));
            return false;
        }
    };
    let _ = (
        cursor.mode(),
        cursor.watermark(),
        cursor.seen_len(),
        cursor.chunks_done_len(),
        format!("{cursor:?}"),
    );
    let json = cursor.to_json();
    let back = match Cursor::from_json(&json) {
        Ok(back) => back,
        Err(error) => {
            panic!("the cursor's own JSON is refused: {error}\ninput: {text}\nwritten: {json}")
        }
    };
    assert!(
        back == cursor,
        "the cursor changed in a round trip\ninput: {text}\nwritten: {json}\nbefore: {cursor:?}\nafter: {back:?}"
    );
    assert_eq!(
        back.to_json(),
        json,
        "to_json is not a fixed point\ninput: {text}"
    );
    true
}
