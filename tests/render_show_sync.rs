//! `show`'s output, loaded and planned against the live state it came from, is in sync.

mod render_support;

use mvtopo::model::Topology;
use mvtopo::render;
use render_support::*;

fn load(text: &str) -> Topology {
    match mvtopo::check::load_str("lab.toml", text, "lab") {
        Ok(t) => t,
        Err(e) => panic!("loading the rendered file failed: {e:?}\n{text}"),
    }
}

fn assert_show_in_sync(live: &mvtopo::live::LiveState) {
    let text = render::show_toml(live, Some("lab"));
    let t = load(&text);
    assert_eq!(t.name, "lab");
    let plan = match mvtopo::diff::diff(&t, live) {
        Ok(p) => p,
        Err(e) => panic!("diffing show's output against the live state failed: {e:?}\n{text}"),
    };
    assert!(
        plan.in_sync && plan.steps.is_empty(),
        "show's output is not in sync with the state it came from:\n{text}\n{}",
        render::steps_text(&plan, false)
    );
    // And its live view is itself: nothing to show as drift.
    assert_eq!(render::live_view_toml(&t, live), render::topology_toml(&t));
}

#[test]
fn show_of_a_clean_apply_is_in_sync() {
    assert_show_in_sync(&applied());
}

#[test]
fn show_of_a_drifted_state_is_in_sync_with_it() {
    assert_show_in_sync(&drifted());
}

#[test]
fn a_clean_apply_of_the_rich_topology_is_in_sync() {
    // The fixture `applied()` is what the renderer's other tests call "in sync"; the differ
    // must agree, or those tests test the wrong thing.
    let plan = mvtopo::diff::diff(&rich(), &applied()).unwrap();
    assert!(plan.in_sync, "{}", render::steps_text(&plan, false));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn show_of_any_clean_apply_is_in_sync(t in arb_topology()) {
        let live = as_applied(&t);
        // The fixture first: the differ must call a clean apply in sync.
        let plan = mvtopo::diff::diff(&t, &live).unwrap();
        proptest::prop_assert!(plan.in_sync, "{}", render::steps_text(&plan, false));
        assert_show_in_sync(&live);
    }
}
