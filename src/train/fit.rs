//! The training loop on burn's CPU backend, made bit-reproducible, and evaluation.
//!
//! Determinism (same platform, same build): the backend is seeded (`B::seed`) before the
//! model is built, parameters are initialised in one fixed order, batches come from our own
//! seeded shuffle (SplitMix64, `seed + epoch`), burn-ndarray is built without its `simd`
//! feature (its approximate SIMD paths depend on buffer addresses), and the weights are saved
//! as safetensors without metadata (burn's default metadata is a HashMap whose order changes
//! between runs). The seed is process-global, so one process trains one model at a time.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer, SgdConfig};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::error::{Error, Result};
use crate::recipe::EpochRecord;

use super::config::{OptimizerName, Task, TrainConfig};
use super::data::{Prepared, Rng};
use super::model::Mlp;

/// The CPU backend.
pub type Cpu = NdArray<f32>;
type Ad = Autodiff<Cpu>;

/// What the backend is called in recipes.
pub const BACKEND: &str = "ndarray-cpu";
/// The burn version mreg is built with (pinned exactly in Cargo.toml).
pub const BURN_VERSION: &str = "0.21.0";

/// A finished training.
pub struct Fitted {
    /// safetensors bytes of the final weights, without metadata.
    pub weights: Vec<u8>,
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub seconds: f64,
}

fn train_err(why: String) -> Error {
    Error::Training(why)
}

fn tensor_x<B: Backend>(p: &Prepared, rows: &[usize], device: &B::Device) -> Tensor<B, 2> {
    let mut x = Vec::with_capacity(rows.len() * p.d);
    for &r in rows {
        x.extend_from_slice(&p.x[r * p.d..(r + 1) * p.d]);
    }
    Tensor::from_data(TensorData::new(x, [rows.len(), p.d]), device)
}

/// Loss of a batch (mean) as a tensor, for backprop.
fn loss<B: Backend>(
    task: Task,
    out: Tensor<B, 2>,
    p: &Prepared,
    rows: &[usize],
    device: &B::Device,
) -> Tensor<B, 1> {
    match task {
        Task::Classification => {
            let y: Vec<i64> = rows.iter().map(|&r| p.y_class[r]).collect();
            let y = Tensor::<B, 1, Int>::from_data(TensorData::new(y, [rows.len()]), device);
            CrossEntropyLossConfig::new().init(device).forward(out, y)
        }
        Task::Regression => {
            let y: Vec<f32> = rows.iter().map(|&r| p.y_value[r]).collect();
            let y = Tensor::<B, 2>::from_data(TensorData::new(y, [rows.len(), 1]), device);
            MseLoss::new().forward(out, y, Reduction::Mean).reshape([1])
        }
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

/// Loss and metrics of `model` on all of `p`.
pub fn evaluate<B: Backend>(
    task: Task,
    model: &Mlp<B>,
    p: &Prepared,
    device: &B::Device,
) -> Result<(f64, BTreeMap<String, f64>)> {
    let rows: Vec<usize> = (0..p.n).collect();
    let out = model.forward(tensor_x(p, &rows, device));
    let values: Vec<f32> = out
        .clone()
        .into_data()
        .to_vec()
        .map_err(|e| train_err(format!("reading model output: {e:?}")))?;
    let l = scalar(loss(task, out, p, &rows, device));
    let mut m = BTreeMap::new();
    match task {
        Task::Classification => {
            let k = values.len() / p.n.max(1);
            let correct = (0..p.n)
                .filter(|&i| {
                    let row = &values[i * k..(i + 1) * k];
                    let best = (0..k)
                        .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                    best as i64 == p.y_class[i]
                })
                .count();
            m.insert("accuracy".into(), correct as f64 / p.n.max(1) as f64);
        }
        Task::Regression => {
            let (mut se, mut ae) = (0.0, 0.0);
            for (v, y) in values.iter().zip(&p.y_value) {
                let d = (*v - *y) as f64;
                se += d * d;
                ae += d.abs();
            }
            m.insert("rmse".into(), (se / p.n.max(1) as f64).sqrt());
            m.insert("mae".into(), ae / p.n.max(1) as f64);
        }
    }
    Ok((l, m))
}

/// Train on `train`, validating on `val` after every epoch; `on_epoch` sees each epoch.
pub fn fit(
    cfg: &TrainConfig,
    train: &Prepared,
    val: &Prepared,
    outputs: usize,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<Fitted> {
    let device = Default::default();
    Ad::seed(&device, cfg.seed);
    let model: Mlp<Ad> = Mlp::new(&cfg.model, train.d, outputs, &device);
    let o = &cfg.optimizer;
    let decay = (o.weight_decay > 0.0).then(|| WeightDecayConfig::new(o.weight_decay as f32));
    match o.name {
        OptimizerName::Adam => {
            let optim = AdamConfig::new().with_weight_decay(decay).init();
            run(cfg, model, optim, train, val, &device, on_epoch)
        }
        OptimizerName::Adamw => {
            let optim = AdamWConfig::new()
                .with_weight_decay(o.weight_decay as f32)
                .init();
            run(cfg, model, optim, train, val, &device, on_epoch)
        }
        OptimizerName::Sgd => {
            let momentum =
                (o.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(o.momentum));
            let optim = SgdConfig::new()
                .with_weight_decay(decay)
                .with_momentum(momentum)
                .init();
            run(cfg, model, optim, train, val, &device, on_epoch)
        }
    }
}

fn run<O: Optimizer<Mlp<Ad>, Ad>>(
    cfg: &TrainConfig,
    mut model: Mlp<Ad>,
    mut optim: O,
    train: &Prepared,
    val: &Prepared,
    device: &Device<Ad>,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<Fitted> {
    let start = Instant::now();
    let mut epochs = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..train.n).collect();
        Rng::new(cfg.seed.wrapping_add(epoch as u64)).shuffle(&mut order);
        let (mut total, mut seen) = (0.0, 0usize);
        for batch in order.chunks(cfg.batch_size) {
            let out = model.forward(tensor_x(train, batch, device));
            let l = loss(cfg.task, out, train, batch, device);
            let value = scalar(l.clone());
            if !value.is_finite() {
                return Err(train_err(format!(
                    "the loss became {value} in epoch {epoch}: training diverged (try a lower optimizer.lr, or normalize the data)"
                )));
            }
            total += value * batch.len() as f64;
            seen += batch.len();
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(cfg.optimizer.lr, model, grads);
        }
        let inner = model.valid();
        let (val_loss, metrics) = evaluate(cfg.task, &inner, val, device)?;
        if !val_loss.is_finite() {
            return Err(train_err(format!(
                "the validation loss became {val_loss} in epoch {epoch}: training diverged (try a lower optimizer.lr)"
            )));
        }
        let rec = EpochRecord {
            epoch,
            train_loss: total / seen.max(1) as f64,
            val_loss,
            metrics,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&rec);
        if best.is_none_or(|(b, _)| val_loss < b) {
            best = Some((val_loss, epoch));
        }
        epochs.push(rec);
    }
    Ok(Fitted {
        weights: save_weights(&model.valid())?,
        epochs,
        best_epoch: best.map_or(1, |(_, e)| e),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The module's weights as safetensors bytes, without metadata (so identical weights give
/// identical bytes).
pub fn save_weights<B: Backend>(model: &Mlp<B>) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None).clear_metadata();
    model
        .save_into(&mut store)
        .map_err(|e| train_err(format!("saving weights: {e}")))?;
    store
        .get_bytes()
        .map_err(|e| train_err(format!("saving weights: {e}")))
}

/// Build the model of `cfg` and load `weights` into it (CPU backend, inference).
pub fn load_model(
    cfg: &TrainConfig,
    inputs: usize,
    outputs: usize,
    weights: &[u8],
) -> Result<Mlp<Cpu>> {
    let device = Default::default();
    let mut model: Mlp<Cpu> = Mlp::new(&cfg.model, inputs, outputs, &device);
    let mut store = SafetensorsStore::from_bytes(Some(weights.to_vec()));
    model
        .load_from(&mut store)
        .map_err(|e| train_err(format!("loading weights: {e}")))?;
    Ok(model)
}
