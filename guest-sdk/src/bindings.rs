//! Bindings generated from `wit/job.wit` by wit-bindgen. Job authors never name
//! these types; the rest of the crate wraps them.

wit_bindgen::generate!({
    world: "job",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "__export_job_world",
    default_bindings_module: "carillon_guest::bindings",
});
