//! The network: a multi-layer perceptron built from the config.

use burn::module::Module;
use burn::nn::activation::Activation as Act;
use burn::nn::{
    Dropout, DropoutConfig, Gelu, LeakyReluConfig, Linear, LinearConfig, Relu, Sigmoid, Tanh,
};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::config::{Activation, ModelConfig};

/// Hidden layers with an activation (and optional dropout) each, then a linear output layer.
/// With no hidden layers it is linear (or, with cross-entropy, logistic) regression.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    hidden: Vec<Linear<B>>,
    output: Linear<B>,
    activation: Act<B>,
    dropout: Dropout,
}

impl<B: Backend> Mlp<B> {
    pub fn new(cfg: &ModelConfig, inputs: usize, outputs: usize, device: &B::Device) -> Self {
        let mut width = inputs;
        let mut hidden = Vec::new();
        for &h in &cfg.hidden {
            hidden.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        let activation = match cfg.activation {
            Activation::Relu => Act::Relu(Relu),
            Activation::Tanh => Act::Tanh(Tanh),
            Activation::Gelu => Act::Gelu(Gelu::new()),
            Activation::Sigmoid => Act::Sigmoid(Sigmoid),
            Activation::LeakyRelu => Act::LeakyRelu(LeakyReluConfig::new().init()),
        };
        Mlp {
            hidden,
            output: LinearConfig::new(width, outputs).init(device),
            activation,
            dropout: DropoutConfig::new(cfg.dropout).init(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut h = x;
        for l in &self.hidden {
            h = self.dropout.forward(self.activation.forward(l.forward(h)));
        }
        self.output.forward(h)
    }
}
