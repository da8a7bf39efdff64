//! Checks and reads shared by the test binaries (`api`, `durability`), each
//! of which includes this file with `#[path = "../common/mod.rs"] mod common;`.
#![allow(dead_code)] // Each binary uses the helpers it needs.

use std::collections::HashMap;

use chat_core::Message;
use uuid::Uuid;

/// Asserts that the messages, whose bodies are `"<poster>:<n>"`, hold each
/// poster's messages in the order it sent them, with no gap or repeat;
/// returns how many each poster has.
pub fn assert_each_posters_order(messages: &[Message]) -> HashMap<&str, usize> {
    let mut next_per_poster: HashMap<&str, usize> = HashMap::new();
    for message in messages {
        let (poster, n) = message
            .body
            .split_once(':')
            .unwrap_or_else(|| panic!("body {:?} is not poster:n", message.body));
        let expected = next_per_poster.entry(poster).or_default();
        assert_eq!(
            n.parse::<usize>().unwrap(),
            *expected,
            "poster {poster}: gap, repeat or reordering"
        );
        *expected += 1;
    }
    next_per_poster
}

/// Reads a whole room by chaining `after` cursors from the nil UUID, one
/// `fetch(cursor)` per page, until a page comes back empty.
pub async fn read_all_pages(mut fetch: impl AsyncFnMut(Uuid) -> Vec<Message>) -> Vec<Message> {
    let mut cursor = Uuid::nil();
    let mut all = Vec::new();
    loop {
        let page = fetch(cursor).await;
        let Some(last) = page.last() else { return all };
        cursor = last.id;
        all.extend(page);
    }
}
