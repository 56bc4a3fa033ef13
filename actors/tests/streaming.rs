//! Streaming behaviour, counted in events: a join emits a match before its sources end,
//! and a diamond completes.

use std::time::Duration;

use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{PipelineBuilder, SyncExecutor};
use orcapod_actors::{RunOptions, Runtime};
use orcapod_testing::multiset;
use orcapod_testing::runs::rows_until_closed;
use orcapod_testing::sources::{numbers, rename};

#[test]
fn a_join_emits_its_first_match_before_the_sources_finish() {
    let left = numbers("left", 3, 3, "x");
    let right = numbers("right", 3, 3, "y");
    let (left_rows, right_rows) = (
        left.stream().unwrap().batches()[0].clone(),
        right.stream().unwrap().batches()[0].clone(),
    );
    let mut builder = PipelineBuilder::new("trickle");
    builder
        .source("left", left)
        .source("right", right)
        .operator("joined", OperatorSpec::Join, ["left", "right"]);
    let pipeline = builder.build().unwrap();

    let runtime = Runtime::new().unwrap();
    let (left_tx, left_rx) = crossbeam_channel::unbounded();
    let (right_tx, right_rx) = crossbeam_channel::unbounded();
    let mut options = RunOptions::default();
    options.feed("left", left_rx).feed("right", right_rx);
    let joined = options.subscribe("joined", 16);
    let handle = runtime.start(&pipeline, options).unwrap();

    // One row on each side, with the same key: the match must arrive while both
    // sources are still open.
    left_tx.send(left_rows.slice(0, 1)).unwrap();
    right_tx.send(right_rows.slice(0, 1)).unwrap();
    let first = joined
        .recv_timeout(Duration::from_secs(10))
        .expect("a match before the end");
    assert_eq!(first.num_rows(), 1);
    let progress = handle.progress();
    assert!(
        progress
            .iter()
            .all(|p| p.name == "joined (output)" || !p.ended),
        "{progress:?}"
    );

    // The rest, then the end of both sources.
    left_tx.send(left_rows.slice(1, 2)).unwrap();
    right_tx.send(right_rows.slice(1, 2)).unwrap();
    drop((left_tx, right_tx));
    assert_eq!(first.num_rows() + rows_until_closed(&joined), 3);
    handle.wait().unwrap();
}

#[test]
fn a_diamond_with_a_slow_side_completes_with_the_sync_result() {
    // One source feeds both sides of a semi-join and a join; the semi-join's build side
    // goes through an extra node, so its left side arrives first and must be buffered.
    let mut builder = PipelineBuilder::new("diamond");
    builder
        .source("s", numbers("s", 600, 50, "v"))
        .operator("renamed", rename("v", "w"), ["s"])
        .operator("semi", OperatorSpec::SemiJoin, ["s", "renamed"])
        .operator("joined", OperatorSpec::Join, ["semi", "renamed"]);
    let pipeline = builder.build().unwrap();
    let runtime = Runtime::new().unwrap();
    for seed in 0..3 {
        let output = runtime
            .run(
                &pipeline,
                RunOptions::default()
                    .max_batch_rows(64)
                    .window_rows(128)
                    .jitter(seed)
                    .outputs(["semi", "joined"]),
            )
            .unwrap();
        let sync = SyncExecutor::new(&pipeline).run_all().unwrap();
        assert_eq!(multiset(&output.streams["semi"]), multiset(&sync["semi"]));
        assert_eq!(
            multiset(&output.streams["joined"]),
            multiset(&sync["joined"])
        );
    }
    assert_eq!(runtime.live_actors(), 0);
}
