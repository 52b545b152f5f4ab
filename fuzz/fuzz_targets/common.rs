//! What several targets share: the built-in catalog, loaded once per process.

use chipmix_catalog::Catalog;
use std::sync::OnceLock;

pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}
