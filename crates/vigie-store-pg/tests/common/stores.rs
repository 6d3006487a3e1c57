//! Each store, opened on the same hand-made registry loaded by its own bulk loader, for the
//! suites that run on both (`both!`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::world::{Fill, fill_small_world};

/// What keeps a store alive: its directory, or its cluster and keyring directory.
pub enum Keep {
    Dir(tempfile::TempDir),
    Cluster(super::Cluster, tempfile::TempDir),
}

/// The SQLite store on the small world and what `more` adds.
pub fn sqlite_with(more: &dyn Fn(&mut dyn Fill)) -> (Keep, vigie_store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut l = vigie_store::Store::bulk_load(dir.path(), &vigie_store::LoadOptions::default()).unwrap();
    fill_small_world(&mut l);
    more(&mut l);
    let store = l.finish().unwrap();
    (Keep::Dir(dir), store)
}

/// The PostgreSQL store, on a cluster of its own, on the small world and what `more` adds.
pub fn postgres_with(more: &dyn Fn(&mut dyn Fill)) -> (Keep, vigie_store_pg::PgStore) {
    let cluster = super::Cluster::start();
    let url = vigie_store_pg::StoreUrl::parse(&cluster.url()).unwrap();
    let mut l = vigie_store_pg::load::PgLoader::start(&url, false).unwrap();
    fill_small_world(&mut l);
    more(&mut l);
    l.finish().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let store =
        vigie_store_pg::PgStore::open(&url, &vigie_store_pg::PgOptions::new(keys.path().join("secrets.key"))).unwrap();
    (Keep::Cluster(cluster, keys), store)
}
