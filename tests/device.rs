//! Device choice: the libtorch in use is found, the CUDA backend of the pinned
//! (CUDA) torch wheel loads, and the default device is CUDA exactly when
//! libtorch then sees a GPU. Its own binary: it changes DEEPSCOPE_DEVICE.

use deepscope::device::{
    cuda_available, default_device, libtorch_lib_dir, load_cuda_backend, CudaBackend,
};
use tch::Device;

#[test]
fn cuda_is_chosen_exactly_when_libtorch_sees_a_gpu() {
    let dir = libtorch_lib_dir().expect("libtorch_cpu.so is mapped");
    assert!(dir.join("libtorch_cpu.so").is_file());
    let has_cuda_lib = dir.join("libtorch_cuda.so").is_file();
    match load_cuda_backend() {
        CudaBackend::Loaded(path) => assert!(has_cuda_lib && path.ends_with("libtorch_cuda.so")),
        CudaBackend::Absent => assert!(!has_cuda_lib),
        CudaBackend::Failed(why) => panic!("libtorch_cuda.so exists but did not load: {why}"),
    }
    // Once the backend is loaded, tch's own question gives the same answer.
    assert_eq!(cuda_available(), tch::Cuda::is_available());
    let expected = if tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    assert_eq!(default_device(), expected);
    // A tensor made on the default device really lives there.
    let t = tch::Tensor::ones([2, 2], (tch::Kind::Float, default_device()));
    assert_eq!(t.device(), expected);

    std::env::set_var("DEEPSCOPE_DEVICE", "cpu");
    assert_eq!(default_device(), Device::Cpu);
    std::env::remove_var("DEEPSCOPE_DEVICE");
}
