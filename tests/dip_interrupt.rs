//! A Deep Image Prior run stops at an interrupt request. Alone in its test
//! binary: the request is process-wide and would stop other tests' runs.

use deepscope::dip::{degrade, Prior, SkipConfig, Task};
use deepscope::display::ProgressMode;
use tch::Device;

#[test]
fn an_interrupt_ends_the_run_with_what_it_has() {
    let img = degrade::crop(&deepscope::data::image("astronaut").unwrap(), 0, 0, 64).unwrap();
    let task = Task::denoise(&img).unwrap();
    deepscope::train::interrupt::request();
    let run = Prior::new(SkipConfig::cpu().scaled(0.25))
        .iterations(1000)
        .progress(ProgressMode::Silent)
        .device(Device::Cpu)
        .run(&task)
        .unwrap();
    assert!(run.interrupted);
    assert!(run.history.is_empty());
    assert!(
        !deepscope::train::interrupt::requested(),
        "the request is consumed"
    );
}
