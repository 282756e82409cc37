//! The full-text index fills in batches: new items wait until a batch's worth has come, the
//! store writer is idle, or the store checkpoints (as `tigris poll` does before it ends), and
//! editing or deleting an item that waits leaves the index sound. A real SQLite file in a
//! temporary folder, written through the store as a poll is.

mod common;

use std::path::Path;

use common::*;
use tigris::store::Store;

const FEED: &str = "https://wire.example/feed";

fn reports(from: usize, to: usize, headline: &str) -> Vec<Item> {
    (from..to)
        .map(|i| {
            Item::new(
                &format!("w{i}"),
                &format!("https://wire.example/story/{i}"),
                &format!("{headline} {i}"),
                &seed_text(i),
            )
        })
        .collect()
}

/// FTS5's own check of an external-content index against its table: it fails when the index
/// holds terms of rows that are not there or lacks those of rows it claims.
fn assert_index_matches_items(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .expect("the full-text index matches the items table");
}

/// The titles of the items a search finds, in title order.
fn hits(store: &Store, query: &str) -> Vec<String> {
    let mut titles: Vec<String> = store
        .search(query, 50)
        .unwrap()
        .into_iter()
        .map(|hit| hit.title)
        .collect();
    titles.sort();
    titles
}

#[test]
fn new_items_wait_for_the_full_text_index_until_a_batch_is_due_or_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tigris.db");
    let mut store = Store::open(&db).unwrap();

    assert_eq!(
        store_poll(&mut store, FEED, &reports(0, 3, "Erbil convoy")),
        3
    );
    assert_eq!(store.waiting_for_full_text().unwrap(), 3);
    assert!(hits(&store, "convoy").is_empty());
    // Waiting is a fact of the database, not of the process: a restart finds them waiting.
    drop(store);
    let mut store = Store::open(&db).unwrap();
    assert_eq!(store.waiting_for_full_text().unwrap(), 3);
    store.checkpoint().unwrap();
    assert_eq!(store.waiting_for_full_text().unwrap(), 0);
    assert_eq!(hits(&store, "convoy").len(), 3);

    // The store transaction after which a batch's worth waits indexes them itself.
    store.set_full_text_batch(4);
    assert_eq!(
        store_poll(&mut store, FEED, &reports(3, 8, "Kirkuk airfield")),
        5
    );
    assert_eq!(store.waiting_for_full_text().unwrap(), 0);
    assert_eq!(hits(&store, "airfield").len(), 5);
    // Fewer than a batch wait.
    assert_eq!(
        store_poll(&mut store, FEED, &reports(8, 9, "Mosul bridge")),
        1
    );
    assert_eq!(store.waiting_for_full_text().unwrap(), 1);
    assert!(hits(&store, "bridge").is_empty());
    store.index_waiting().unwrap();
    assert_eq!(hits(&store, "bridge"), ["Mosul bridge 8"]);
    assert_index_matches_items(&db);
}

#[test]
fn editing_or_deleting_an_item_that_waits_for_the_index_leaves_the_index_sound() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tigris.db");
    let mut store = Store::open(&db).unwrap();
    assert_eq!(
        store_poll(&mut store, FEED, &reports(0, 3, "Basra port")),
        3
    );
    assert_eq!(store.waiting_for_full_text().unwrap(), 3);

    // The feed edits a waiting item's title: the index must take the new title only.
    let mut edited = reports(0, 3, "Basra port");
    edited[0].title = "Basra harbour reopens".into();
    assert_eq!(store_poll(&mut store, FEED, &edited), 0);
    // A user's script deletes a waiting item (the foreign keys take its rows with it).
    let user = rusqlite::Connection::open(&db).unwrap();
    user.execute_batch(
        "PRAGMA foreign_keys = ON;
         DELETE FROM items WHERE title = 'Basra port 2';",
    )
    .unwrap();
    store.checkpoint().unwrap();
    assert_index_matches_items(&db);
    assert_eq!(hits(&store, "harbour"), ["Basra harbour reopens"]);
    assert_eq!(hits(&store, "port"), ["Basra port 1"]);

    // Deleting the indexed item with the largest id: the items stored after it still wait, and
    // are indexed, whatever ids they take.
    user.execute_batch(
        "PRAGMA foreign_keys = ON;
         DELETE FROM items WHERE id = (SELECT max(id) FROM items);",
    )
    .unwrap();
    assert_index_matches_items(&db);
    assert_eq!(
        store_poll(&mut store, FEED, &reports(3, 5, "Basra port")),
        2
    );
    assert_eq!(store.waiting_for_full_text().unwrap(), 2);
    // An indexed item edited while others wait is taken out and put back in the index.
    let mut edited = reports(0, 1, "Basra port");
    edited[0].title = "Basra harbour closes again".into();
    store_poll(&mut store, FEED, &edited);
    assert_eq!(hits(&store, "harbour"), ["Basra harbour closes again"]);
    store.checkpoint().unwrap();
    assert_index_matches_items(&db);
    assert_eq!(
        hits(&store, "port"),
        ["Basra port 3", "Basra port 4"],
        "the edited and deleted items are gone from the index"
    );
}
