//! Properties over generated valid topologies: the TOML loads back as the same topology and
//! is canonical, and the live view of a clean apply shows no drift.

mod render_support;

use mvtopo::render;
use proptest::prelude::*;
use render_support::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_topologies_round_trip(t in arb_topology()) {
        let text = render::topology_toml(&t);
        let back = mvtopo::check::load_str("gen.toml", &text, "lab")
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(&back, &t, "{}", text);
        prop_assert_eq!(render::topology_toml(&back), text);
    }

    #[test]
    fn a_clean_apply_shows_no_drift(t in arb_topology()) {
        let live = as_applied(&t);
        prop_assert_eq!(render::live_view_toml(&t, &live), render::topology_toml(&t));
        let plan_text = render::plan_text(
            &mvtopo::plan::Plan {
                topology: t.name.clone(),
                in_sync: true,
                steps: vec![],
                notes: vec![],
            },
            &t,
            &live,
            "gen.toml",
            false,
        );
        prop_assert_eq!(plan_text, "no changes: the live state matches lab\n");
    }

    #[test]
    fn show_output_always_loads(t in arb_topology()) {
        let live = as_applied(&t);
        let text = render::show_toml(&live, Some("lab"));
        let back = mvtopo::check::load_str("show.toml", &text, "lab")
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(back.macvlans.len(), t.macvlans.len());
    }
}
