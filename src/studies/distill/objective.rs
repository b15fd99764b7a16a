//! Distillation as a training objective.

use super::loss::{check_settings, distillation_loss};
use super::teacher::{soft_targets, Teacher};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{accuracy, evaluate, Batch, Metrics, Objective, Step};
use tch::Tensor;

/// A student trained on a teacher's soft targets over the training split
/// of `data` (the transfer set), mixed with the labels' cross-entropy
/// unless `alpha` is 1, and evaluated on the test split. Run it with
/// [`fit_objective`](crate::train::fit_objective).
pub struct Distillation<'a> {
    student: &'a mut Model,
    teacher: Teacher<'a>,
    data: &'a Dataset,
    temperature: f64,
    alpha: f64,
    cache_batch: Option<usize>,
    cached: Option<Vec<Tensor>>,
}

impl<'a> Distillation<'a> {
    /// `student` learns `teacher`'s soft targets at `temperature` on
    /// `data.train`; soft targets only (alpha 1), computed on the fly.
    pub fn new(
        student: &'a mut Model,
        teacher: Teacher<'a>,
        data: &'a Dataset,
        temperature: f64,
    ) -> Self {
        Distillation {
            student,
            teacher,
            data,
            temperature,
            alpha: 1.0,
            cache_batch: None,
            cached: None,
        }
    }

    /// The weight of the soft term (the labels' cross-entropy gets
    /// `1 - alpha`); in [0, 1].
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The teacher's logits for the transfer set computed once, in batches
    /// of `batch_size`, before training (the set is fixed: no
    /// augmentation), instead of at every step.
    pub fn cached(mut self, batch_size: usize) -> Self {
        self.cache_batch = Some(batch_size);
        self
    }

    /// The teacher (e.g. to evaluate it on the same data).
    pub fn teacher(&self) -> &Teacher<'a> {
        &self.teacher
    }

    fn targets(&self, batch: &Batch) -> Result<Tensor> {
        match &self.cached {
            Some(all) => {
                let looked_up: Vec<Tensor> = all
                    .iter()
                    .map(|z| {
                        z.f_index_select(0, &batch.indices)?
                            .f_to_device(batch.images.device())
                    })
                    .collect::<std::result::Result<_, _>>()?;
                soft_targets(&looked_up, self.temperature)
            }
            None => self.teacher.soft_targets(&batch.images, self.temperature),
        }
    }
}

impl Objective for Distillation<'_> {
    fn describe(&self) -> String {
        format!(
            "distillation T {} alpha {} teacher of {} model(s){}",
            self.temperature,
            self.alpha,
            self.teacher.len(),
            if self.cache_batch.is_some() {
                ", cached logits"
            } else {
                ""
            }
        )
    }

    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![("student".to_string(), &mut *self.student)]
    }

    fn streams(&self) -> Vec<Split> {
        vec![self.data.train.clone()]
    }

    fn check(&mut self) -> Result<()> {
        check_settings(self.temperature, self.alpha)?;
        if self.data.train.is_empty() {
            return Err(Error::invalid(format!(
                "dataset '{}' has no training examples to distill on",
                self.data.name
            )));
        }
        let shape = self.data.train.image_shape();
        for (who, input) in [
            ("student", self.student.input_shape()),
            ("teacher", self.teacher.input_shape()),
        ] {
            if input != shape {
                return Err(Error::shape(
                    format!("the {who}'s input"),
                    format!("the transfer set's images {:?}", shape),
                    format!("{input:?}"),
                ));
            }
        }
        let k = self.teacher.classes();
        if self.student.output_shape() != [k] {
            return Err(Error::shape(
                "the student's output",
                format!("[{k}], the teacher's classes"),
                format!("{:?}", self.student.output_shape()),
            ));
        }
        if self.alpha < 1.0 && self.data.num_classes() != k {
            return Err(Error::invalid(format!(
                "the labels of '{}' have {} classes, the teacher {k}",
                self.data.name,
                self.data.num_classes()
            )));
        }
        if let (Some(batch), None) = (self.cache_batch, &self.cached) {
            self.cached = Some(self.teacher.cache(&self.data.train, batch)?);
        }
        Ok(())
    }

    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics> {
        let b = &batches[0];
        let p = self.targets(b)?;
        let z = self.student.forward(&b.images)?;
        let labels = (self.alpha < 1.0).then_some(&b.labels);
        let loss = distillation_loss(&z, &p, labels, self.temperature, self.alpha)?;
        step.minimize(&loss)?;
        let agreement = accuracy(&z, &p.f_argmax(1, false)?)?;
        let mut metrics = Metrics::loss(loss.f_double_value(&[])?).with("agreement", agreement);
        if self.alpha < 1.0 {
            metrics = metrics.accuracy(accuracy(&z, &b.labels)?);
        }
        Ok(metrics)
    }

    fn evaluate(&mut self, batch_size: usize) -> Result<Option<Metrics>> {
        if self.data.test.is_empty() {
            return Ok(None);
        }
        let e = evaluate(self.student, &self.data.test, batch_size)?;
        Ok(Some(Metrics::loss(e.loss).accuracy(e.accuracy)))
    }

    fn loss_label(&self) -> String {
        format!("distillation loss (T {})", self.temperature)
    }
}
