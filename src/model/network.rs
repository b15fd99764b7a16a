//! The layered model: run to any named layer and stop, read several
//! activations in one pass, record max-pool switches, copy, freeze and
//! re-initialise layers, and enumerate parameters per layer.

use super::init::initialise;
use super::layer::Layer;
use crate::check;
use crate::error::{Error, Result};
use crate::runtime::rng::{seeded, Rng};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use tch::{nn, Device, Kind, Tensor};

/// A network as an explicit list of named layers on a tch `VarStore`, with
/// parameter names that follow torchvision's state-dict keys.
pub struct Model {
    vs: nn::VarStore,
    layers: Vec<Layer>,
    input: Vec<i64>,
    /// Output shape of each layer (one example), found when the model was built.
    shapes: Vec<Vec<i64>>,
    train: bool,
    lr_scale: HashMap<String, f64>,
    /// Draws dropout masks in training mode. Each model has its own, so runs
    /// in different threads (or kernel cells) do not disturb each other.
    rng: Mutex<Rng>,
}

/// Everything a forward pass saw up to a layer: the input, each layer's
/// output and each max pool's switches. What the deconvnet and the
/// receptive-field tools work from.
pub struct Trace {
    /// The input `[N, C, H, W]`.
    pub input: Tensor,
    /// Output of layer `i` for `i` in `0..=last`.
    pub outputs: Vec<Tensor>,
    /// For max-pool layers, the flat argmax index of each output position
    /// within its input plane; `None` for other layers.
    pub switches: Vec<Option<Tensor>>,
}

impl Model {
    pub(super) fn from_parts(
        vs: nn::VarStore,
        layers: Vec<Layer>,
        input: Vec<i64>,
        shapes: Vec<Vec<i64>>,
        seed: u64,
    ) -> Self {
        Model {
            vs,
            layers,
            input,
            shapes,
            train: false,
            lr_scale: HashMap::new(),
            rng: Mutex::new(seeded(seed)),
        }
    }

    /// Reseeds the generator of the dropout masks (training mode only);
    /// [`fit`](crate::train::fit) does this at every epoch.
    pub fn reseed(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = seeded(seed);
    }

    /// Calls `f` on every layer, nested ones (block branches, shortcuts,
    /// concat branches) after the layer that holds them.
    pub(crate) fn for_each_layer_mut(&mut self, f: &mut dyn FnMut(&mut Layer)) {
        fn walk(layer: &mut Layer, f: &mut dyn FnMut(&mut Layer)) {
            f(layer);
            for sub in layer.sublayers_mut() {
                walk(sub, f);
            }
        }
        for layer in &mut self.layers {
            walk(layer, f);
        }
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Layer names, in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// The name of the last layer, whose output is the model's (the builder
    /// refuses a model without layers).
    pub fn output_layer(&self) -> &str {
        self.layers.last().map_or("", |l| l.name.as_str())
    }

    /// The position of layer `name`; the error lists the names there are.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        self.layers
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no layer named '{name}'; this model has: {}",
                    self.layer_names().join(", ")
                ))
            })
    }

    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Result<&Layer> {
        Ok(&self.layers[self.layer_index(name)?])
    }

    /// Shape of one input example, e.g. `[1, 28, 28]`.
    pub fn input_shape(&self) -> &[i64] {
        &self.input
    }

    /// Shape of one output, e.g. `[10]`.
    pub fn output_shape(&self) -> &[i64] {
        // A model has at least one layer (the builder refuses an empty one).
        self.shapes.last().map_or(&self.input[..], |s| &s[..])
    }

    /// Output shape of layer `index` for one example (`None` past the end).
    pub fn layer_shape(&self, index: usize) -> Option<&[i64]> {
        self.shapes.get(index).map(|s| &s[..])
    }

    /// The underlying variable store (names are torchvision state-dict keys).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Moves every parameter and buffer to `device`.
    pub fn to_device(&mut self, device: Device) {
        self.vs.set_device(device);
    }

    /// Training mode (dropout active, batch norm uses and updates batch
    /// statistics) or evaluation mode.
    pub fn set_train(&mut self, train: bool) {
        self.train = train;
    }

    /// Whether the model is in training mode.
    pub fn is_training(&self) -> bool {
        self.train
    }

    /// Checks that `x` is a batch of inputs `[N, ...input shape]` on the
    /// model's device.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        check::defined(x, "input")?;
        check::floating(x, "input")?;
        let size = x.size();
        if size.len() != self.input.len() + 1 || size[1..] != self.input[..] {
            return Err(Error::shape(
                "input",
                format!(
                    "a batch [N, {}]",
                    self.input
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                check::shape_str(&size),
            ));
        }
        if x.device() != self.device() {
            return Err(Error::shape(
                "input",
                format!("a tensor on the model's device {:?}", self.device()),
                format!("{:?}", x.device()),
            ));
        }
        if x.kind() != Kind::Float {
            return Err(Error::shape(
                "input",
                "Float (f32) values",
                format!("{:?}", x.kind()),
            ));
        }
        Ok(())
    }

    fn run(
        &self,
        x: &Tensor,
        from: usize,
        to: usize,
        mut visit: impl FnMut(usize, &Tensor, Option<Tensor>),
    ) -> Result<Tensor> {
        let mut h = x.shallow_clone();
        let mut guard = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        for (i, layer) in self.layers.iter().enumerate().take(to + 1).skip(from) {
            let rng = if self.train { Some(&mut *guard) } else { None };
            let (y, sw) = layer
                .forward(&h, rng)
                .map_err(|e| e.in_layer(&layer.name))?;
            visit(i, &y, sw);
            h = y;
        }
        Ok(h)
    }

    /// The output of the whole model, e.g. logits `[N, classes]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        self.run(x, 0, self.layers.len() - 1, |_, _, _| {})
    }

    /// The output of layer `name`, computing nothing after it.
    pub fn forward_to(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let last = self.layer_index(name)?;
        self.check_input(x)?;
        self.run(x, 0, last, |_, _, _| {})
    }

    /// Continues from the output `h` of layer `name` to the model's output
    /// (e.g. logits from perturbed layer-5 features).
    pub fn forward_from(&self, h: &Tensor, name: &str) -> Result<Tensor> {
        let i = self.layer_index(name)?;
        check::defined(h, "activation")?;
        if i + 1 == self.layers.len() {
            return Ok(h.shallow_clone());
        }
        self.run(h, i + 1, self.layers.len() - 1, |_, _, _| {})
    }

    /// The outputs of several layers in one pass, in the order asked; the
    /// pass stops at the deepest of them.
    pub fn activations(&self, x: &Tensor, names: &[&str]) -> Result<Vec<Tensor>> {
        let idx: Vec<usize> = names
            .iter()
            .map(|n| self.layer_index(n))
            .collect::<Result<_>>()?;
        let Some(&last) = idx.iter().max() else {
            return Ok(Vec::new());
        };
        self.check_input(x)?;
        let mut found: BTreeMap<usize, Tensor> = BTreeMap::new();
        let _ = self.run(x, 0, last, |i, y, _| {
            if idx.contains(&i) {
                found.insert(i, y.shallow_clone());
            }
        })?;
        Ok(idx.iter().map(|i| found[i].shallow_clone()).collect())
    }

    /// Every layer's output and every max pool's switches up to layer `name`.
    pub fn trace(&self, x: &Tensor, name: &str) -> Result<Trace> {
        let last = self.layer_index(name)?;
        self.check_input(x)?;
        let mut outputs = Vec::with_capacity(last + 1);
        let mut switches = Vec::with_capacity(last + 1);
        let _ = self.run(x, 0, last, |_, y, sw| {
            outputs.push(y.shallow_clone());
            switches.push(sw);
        })?;
        Ok(Trace {
            input: x.shallow_clone(),
            outputs,
            switches,
        })
    }

    /// Every trainable parameter with its full name, in layer order.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|l| l.named_params()).collect()
    }

    /// Every parameter and buffer (running statistics) with its full name.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|l| l.named_tensors()).collect()
    }

    /// The parameters of layer `name` (and of its sub-layers, for a block).
    pub fn layer_parameters(&self, name: &str) -> Result<Vec<(String, Tensor)>> {
        Ok(self.layer(name)?.named_params())
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> i64 {
        self.named_parameters()
            .iter()
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }

    /// Copies the parameters and buffers of layers up to and including
    /// `last` from `src`, matched by layer name; every copied tensor must
    /// have the same shape. The transfer experiments' "copy layers 1..n".
    pub fn copy_layers_from(&mut self, src: &Model, last: &str) -> Result<()> {
        let end = self.layer_index(last)?;
        let mut problems = Vec::new();
        let mut pairs = Vec::new();
        for layer in &self.layers[..=end] {
            let Ok(other) = src.layer(&layer.name) else {
                problems.push(format!("{}: not in the source model", layer.name));
                continue;
            };
            let (mine, theirs) = (layer.named_tensors(), other.named_tensors());
            if mine.len() != theirs.len() {
                problems.push(format!(
                    "{}: {} tensors here, {} in the source",
                    layer.name,
                    mine.len(),
                    theirs.len()
                ));
                continue;
            }
            for ((n, a), (_, b)) in mine.into_iter().zip(theirs) {
                if a.size() != b.size() {
                    problems.push(format!(
                        "{n}: shape {:?} here, {:?} in the source",
                        a.size(),
                        b.size()
                    ));
                } else {
                    pairs.push((a, b));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(format!(
                "cannot copy layers: {}",
                problems.join("; ")
            )));
        }
        tch::no_grad(|| -> Result<()> {
            for (mut dst, s) in pairs {
                dst.f_copy_(&s.to_device(dst.device()))?;
            }
            Ok(())
        })
    }

    /// Stops gradients for the layers named: their parameters keep their
    /// values through training.
    pub fn freeze(&mut self, names: &[&str]) -> Result<()> {
        self.set_requires_grad(names, false)
    }

    /// Lets the layers named train again.
    pub fn unfreeze(&mut self, names: &[&str]) -> Result<()> {
        self.set_requires_grad(names, true)
    }

    /// Freezes every layer up to and including `last`.
    pub fn freeze_up_to(&mut self, last: &str) -> Result<()> {
        let end = self.layer_index(last)?;
        let names: Vec<String> = self.layers[..=end].iter().map(|l| l.name.clone()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.freeze(&refs)
    }

    fn set_requires_grad(&mut self, names: &[&str], on: bool) -> Result<()> {
        let layers: Vec<usize> = names
            .iter()
            .map(|n| self.layer_index(n))
            .collect::<Result<_>>()?;
        for i in layers {
            for (_, t) in self.layers[i].named_params() {
                let _ = t.set_requires_grad(on);
            }
        }
        Ok(())
    }

    /// Whether every parameter of layer `name` is frozen (false for layers
    /// without parameters).
    pub fn is_frozen(&self, name: &str) -> Result<bool> {
        let params = self.layer(name)?.named_params();
        Ok(!params.is_empty() && params.iter().all(|(_, t)| !t.requires_grad()))
    }

    /// Multiplies the learning rate of layer `name`'s parameters by `scale`
    /// in [`train`](crate::train) optimisers (0 skips them; 0.1 slows them).
    pub fn set_lr_scale(&mut self, name: &str, scale: f64) -> Result<()> {
        self.layer_index(name)?;
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::invalid(format!(
                "learning-rate scale must be finite and >= 0, got {scale}"
            )));
        }
        self.lr_scale.insert(name.to_string(), scale);
        Ok(())
    }

    /// Parameter groups, one per layer with parameters: the layer name, its
    /// learning-rate scale and its trainable (not frozen) parameters.
    pub fn param_groups(&self) -> Vec<ParamGroup> {
        self.layers
            .iter()
            .map(|l| ParamGroup {
                layer: l.name.clone(),
                lr_scale: self.lr_scale.get(&l.name).copied().unwrap_or(1.0),
                params: l
                    .named_params()
                    .into_iter()
                    .filter(|(_, t)| t.requires_grad())
                    .collect(),
            })
            .filter(|g| !g.params.is_empty())
            .collect()
    }

    /// Draws new weights for the layers named (seeded) and resets their
    /// running statistics: the "re-initialise the upper layers" step.
    pub fn reinitialize(&mut self, names: &[&str], seed: u64) -> Result<()> {
        let idx: Vec<usize> = names
            .iter()
            .map(|n| self.layer_index(n))
            .collect::<Result<_>>()?;
        let mut rng = seeded(seed);
        for i in idx {
            initialise(&self.layers[i], &mut rng)?;
        }
        Ok(())
    }
}

/// One layer's parameters for an optimiser.
pub struct ParamGroup {
    /// The layer's name.
    pub layer: String,
    /// Learning-rate multiplier.
    pub lr_scale: f64,
    /// Trainable parameters with their full names.
    pub params: Vec<(String, Tensor)>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())
    }
}

impl crate::display::Show for Model {
    /// A model shows its summary.
    fn mime_bundle(&self) -> Result<crate::display::MimeBundle> {
        self.summary().mime_bundle()
    }
}

crate::display::shows_at_cell_end!(super::Summary, Model);
