//! `DEEPSCOPE_DATA` chooses the data folder. Its own test binary, because it
//! changes the process environment.

mod common;

use deepscope::data;

#[test]
fn deepscope_data_names_the_folder_and_missing_data_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(data::DATA_ENV, dir.path());
    assert_eq!(data::data_dir().unwrap(), dir.path());
    let msg = common::err_text(data::fashion_mnist());
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("make setup"), "{msg}");
    let msg = common::err_text(data::image("coffee"));
    assert!(msg.contains("manifest.json does not exist"), "{msg}");
    std::env::remove_var(data::DATA_ENV);
}
