//! Train a tiny burn model in your own code and commit it to an mreg store.
//!
//!     cargo run --example burn_commit -- /tmp/demo     # creates the store if needed
//!
//! The weights are saved as safetensors without metadata (identical weights give an
//! identical file id), committed with params and metrics, and `candidate` is pointed at the
//! new version. `mreg -C /tmp/demo log tiny` shows it.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::prelude::*;
use mreg::train::{commit_module, ModuleCommit};

type B = Autodiff<NdArray<f32>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mreg-lib-demo".into());
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let repo = match mreg::Repo::discover(dir) {
        Ok(r) => r,
        Err(_) => mreg::Repo::init(dir)?,
    };

    // Fit y = 2x + 1 with one linear layer.
    let device = Default::default();
    B::seed(&device, 1);
    let mut net: Linear<B> = LinearConfig::new(1, 1).init(&device);
    let mut optim = SgdConfig::new().init();
    let xs: Vec<f32> = (0..32).map(|i| i as f32 / 32.0).collect();
    let ys: Vec<f32> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
    let x = Tensor::<B, 2>::from_data(TensorData::new(xs, [32, 1]), &device);
    let y = Tensor::<B, 2>::from_data(TensorData::new(ys, [32, 1]), &device);
    let mut loss_value = f64::NAN;
    for _ in 0..300 {
        let loss = MseLoss::new().forward(net.forward(x.clone()), y.clone(), Reduction::Mean);
        loss_value = loss.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(0.5, net, grads);
    }

    let id = commit_module(
        &repo,
        &net.valid(),
        ModuleCommit {
            model: "tiny",
            path: "models/tiny.safetensors",
            params: serde_json::json!({"lr": 0.5, "steps": 300, "optimizer": "sgd"}),
            metrics: [("mse".to_string(), loss_value)].into_iter().collect(),
            aliases: vec![mreg::names::AliasName::new("candidate")?],
            message: "fit y = 2x + 1".into(),
            author: "burn_commit example <example@localhost>".into(),
        },
    )?;
    println!("committed tiny {id} (mse {loss_value:.6})");
    Ok(())
}
