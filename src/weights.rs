//! Weights in files: safetensors (read and write) and PyTorch state dicts
//! saved with `torch.save(model.state_dict(), "x.pt")` (read). Names follow
//! torchvision's state-dict keys, so torchvision weights load unchanged.

use crate::error::{Error, Result};
use crate::model::Model;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

/// The format of a weights file, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Hugging Face safetensors: an 8-byte header length, then a JSON header.
    Safetensors,
    /// A zip archive: PyTorch's `torch.save` (or libtorch's C++ archive).
    TorchZip,
}

fn sniff(path: &Path) -> Result<Format> {
    let mut head = [0u8; 9];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    if n >= 4 && &head[..4] == b"PK\x03\x04" {
        return Ok(Format::TorchZip);
    }
    if n == 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    Err(Error::corrupt(
        path,
        "not a weights file: expected safetensors (8-byte length then '{') or a PyTorch zip archive ('PK')",
    ))
}

/// Reads every named tensor of a safetensors or PyTorch `.pt` file, on the
/// CPU, sorted by name (whatever order the file stored them in).
pub fn read_tensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let mut tensors = match sniff(path)? {
        Format::Safetensors => Tensor::read_safetensors(path).map_err(|e| {
            Error::corrupt(
                path,
                format!(
                    "cannot read safetensors: {}",
                    crate::error::torch_message(&e)
                ),
            )
        }),
        Format::TorchZip => read_torch_zip(path),
    }?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(tensors)
}

/// A `torch.save` archive, read by pytorch-reader (no Python, no libtorch
/// unpickler).
fn read_torch_zip(path: &Path) -> Result<Vec<(String, Tensor)>> {
    use pytorch_reader::{DType, PytorchReader};
    let reader = PytorchReader::new(path)
        .map_err(|e| Error::corrupt(path, format!("cannot read the PyTorch archive: {e}")))?;
    let mut out = Vec::with_capacity(reader.len());
    for (name, t) in reader.tensors() {
        let kind = match t.dtype() {
            DType::F64 => Kind::Double,
            DType::F32 => Kind::Float,
            DType::F16 => Kind::Half,
            DType::BF16 => Kind::BFloat16,
            DType::I64 => Kind::Int64,
            DType::I32 => Kind::Int,
            DType::I16 => Kind::Int16,
            DType::I8 => Kind::Int8,
            DType::U8 => Kind::Uint8,
            DType::Bool => Kind::Bool,
            other => {
                return Err(Error::corrupt(
                    path,
                    format!("tensor {name} has element type {other:?}, which libtorch tensors here cannot hold"),
                ))
            }
        };
        let bytes = t
            .read()
            .map_err(|e| Error::corrupt(path, format!("tensor {name}: {e}")))?;
        let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        out.push((
            name.clone(),
            Tensor::f_from_data_size(&bytes, &shape, kind)?,
        ));
    }
    Ok(out)
}

/// Writes `(name, tensor)` pairs as safetensors (views such as crops are
/// written as their values).
pub fn write_safetensors(tensors: &[(String, Tensor)], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&cpu, path).map_err(|e| match e {
        tch::TchError::Io(io) => Error::io(path, io),
        other => Error::invalid(format!(
            "{}: cannot write safetensors: {other}",
            path.display()
        )),
    })
}

/// Saves every parameter and buffer of `model` as safetensors (the only
/// format written: PyTorch reads it with `safetensors.torch.load_file`).
pub fn save(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::invalid(format!(
            "{}: weights are saved as .safetensors (PyTorch reads them with safetensors.torch.load_file)",
            path.display()
        )));
    }
    write_safetensors(&model.named_tensors(), path)
}

/// Saves every parameter and buffer as safetensors under any file name
/// (for temporary files that are renamed into place).
pub fn save_as(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    write_safetensors(&model.named_tensors(), path)
}

/// What [`load_partial`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Tensors copied into the model.
    pub loaded: Vec<String>,
    /// Model tensors the file does not have.
    pub missing: Vec<String>,
    /// File tensors the model does not have.
    pub unexpected: Vec<String>,
    /// Names whose shapes differ: (name, model shape, file shape).
    pub mismatched: Vec<(String, Vec<i64>, Vec<i64>)>,
}

impl LoadReport {
    fn problems(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing from the file: {}",
                self.missing.join(", ")
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("not in the model: {}", self.unexpected.join(", ")));
        }
        if !self.mismatched.is_empty() {
            let m: Vec<String> = self
                .mismatched
                .iter()
                .map(|(n, a, b)| format!("{n} (model {a:?}, file {b:?})"))
                .collect();
            parts.push(format!("wrong shape: {}", m.join(", ")));
        }
        parts.join("; ")
    }
}

/// PyTorch's batch-norm step counter, which our batch norm does not need.
fn ignorable(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

fn plan(model: &Model, file: Vec<(String, Tensor)>) -> (LoadReport, Vec<(Tensor, Tensor)>) {
    let mut file: BTreeMap<String, Tensor> =
        file.into_iter().filter(|(n, _)| !ignorable(n)).collect();
    let mut report = LoadReport::default();
    let mut pairs = Vec::new();
    for (name, dst) in model.named_tensors() {
        match file.remove(&name) {
            None => report.missing.push(name),
            Some(src) if src.size() != dst.size() => {
                report.mismatched.push((name, dst.size(), src.size()))
            }
            Some(src) => {
                report.loaded.push(name);
                pairs.push((dst, src));
            }
        }
    }
    report.unexpected = file.into_keys().collect();
    (report, pairs)
}

fn copy_all(pairs: Vec<(Tensor, Tensor)>) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for (mut dst, src) in pairs {
            dst.f_copy_(&src.f_to_kind(dst.kind())?.f_to_device(dst.device())?)?;
        }
        Ok(())
    })
}

/// Loads every parameter and buffer of `model` from a safetensors or
/// PyTorch `.pt` file. Strict: if any tensor is missing, unexpected or of the
/// wrong shape, nothing is loaded and the error lists every one of them.
pub fn load(model: &mut Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    load_tensors(model, read_tensors(path)?, path)
}

/// [`load`] from tensors already in memory; `source` names where they came
/// from in the error.
pub fn load_tensors(
    model: &mut Model,
    tensors: Vec<(String, Tensor)>,
    source: impl AsRef<Path>,
) -> Result<()> {
    let path = source.as_ref();
    let (report, pairs) = plan(model, tensors);
    if !report.missing.is_empty() || !report.unexpected.is_empty() || !report.mismatched.is_empty()
    {
        return Err(Error::corrupt(
            path,
            format!("weights do not fit the model: {}", report.problems()),
        ));
    }
    copy_all(pairs)
}

/// Loads the tensors whose names and shapes match and reports the rest
/// (e.g. a pretrained body under a new classifier head).
pub fn load_partial(model: &mut Model, path: impl AsRef<Path>) -> Result<LoadReport> {
    let (report, pairs) = plan(model, read_tensors(path.as_ref())?);
    copy_all(pairs)?;
    Ok(report)
}

/// The tensors of a file by name (convenience for inspection).
pub fn read_map(path: impl AsRef<Path>) -> Result<HashMap<String, Tensor>> {
    Ok(read_tensors(path)?.into_iter().collect())
}
