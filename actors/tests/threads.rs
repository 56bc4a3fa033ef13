//! A one-shot run leaves no thread behind (its own test binary, so that no other test's
//! threads come and go meanwhile).

use orcapod::pipeline::PipelineBuilder;
use orcapod_testing::sources::{numbers, rename};

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[test]
fn a_one_shot_run_joins_its_threads() {
    let mut builder = PipelineBuilder::new("p");
    builder
        .source("s", numbers("s", 100, 5, "v"))
        .operator("renamed", rename("v", "w"), ["s"]);
    let pipeline = builder.build().unwrap();
    let before = thread_count();
    for _ in 0..3 {
        let output = orcapod_actors::run(&pipeline).unwrap();
        assert_eq!(output.streams["renamed"].num_rows(), 100);
    }
    assert_eq!(thread_count(), before);
}
