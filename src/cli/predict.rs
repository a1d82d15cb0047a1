//! `glovebox predict`: encrypted inference on the Breast Cancer Wisconsin test split.

use super::{
    check_passed, progress_bar, security_level, server_key_with_bar, threads, BackendArg, CliError,
    CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::driver::{Driver, DriverConfig};
use glovebox::inference::*;
use glovebox::prelude::*;
use glovebox_integer::{decrypt_bool, encrypt_radix, IntegerServer, RadixCiphertext, RadixLayout};
use rayon::prelude::*;
use serde::Serialize;
use std::result::Result;
use std::sync::Arc;
use std::time::Instant;

/// The models `predict` evaluates.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Logistic regression: the encrypted score, its sign (the diagnosis) and a risk level.
    Logreg,
    /// A random forest (7 trees of depth at most 4): every split compared blind, the leaves
    /// selected blind, the votes summed, their majority.
    Trees,
}

/// A trained model: the float original and its quantized twin, ready to run encrypted.
enum Model {
    Logreg {
        float: FloatLogReg,
        quantized: QuantizedLogReg,
    },
    Trees {
        float: FloatForest,
        circuit: CompiledForest,
    },
}

/// A server's answer for one patient.
enum Encrypted {
    Logreg(EncryptedPrediction),
    Trees(EncryptedForestPrediction),
}

impl Model {
    fn train(
        kind: ModelKind,
        train: &Dataset,
        q: &Quantizer,
        layout: &RadixLayout,
    ) -> Result<Self, glovebox::health::Error> {
        Ok(match kind {
            ModelKind::Logreg => {
                let float = FloatLogReg::train(train, q, ALPHA)?;
                let quantized = QuantizedLogReg::quantize(&float, FEATURE_BITS, MAX_WEIGHT);
                Model::Logreg { float, quantized }
            }
            ModelKind::Trees => {
                let float = FloatForest::train(train, q, TREES, TREE_DEPTH, FOREST_SEED)?;
                let circuit = CompiledForest::new(&float.quantize(FEATURE_BITS), layout)?;
                Model::Trees { float, circuit }
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Model::Logreg { .. } => "logistic regression",
            Model::Trees { .. } => "random forest",
        }
    }

    fn describe(&self) -> String {
        match self {
            Model::Logreg { quantized, .. } => format!(
                "weights {:?}, bias {}; outputs: diagnosis, risk level 0-2",
                quantized.weights, quantized.bias
            ),
            Model::Trees { circuit, .. } => format!(
                "{} trees of depth <= {}, {} splits after quantization, {} distinct comparisons; \
                 outputs: diagnosis (majority), malignant votes",
                circuit.forest.trees.len(),
                TREE_DEPTH,
                circuit.forest.splits(),
                circuit.comparisons()
            ),
        }
    }

    fn float_predict(&self, scaled: &[f64]) -> bool {
        match self {
            Model::Logreg { float, .. } => float.predict(scaled),
            Model::Trees { float, .. } => float.predict_votes(scaled).0,
        }
    }

    /// The quantized clear twin: (diagnosis, risk level or malignant votes).
    fn clear(&self, x: &[u64]) -> (bool, u8) {
        match self {
            Model::Logreg { quantized, .. } => quantized.predict_clear(x),
            Model::Trees { circuit, .. } => {
                let (m, votes) = circuit.forest.predict_votes(x);
                (m, votes as u8)
            }
        }
    }

    fn predict_encrypted(
        &self,
        ints: &IntegerServer<'_>,
        patients: &[Vec<RadixCiphertext>],
    ) -> Result<Vec<Encrypted>, glovebox::health::Error> {
        Ok(match self {
            Model::Logreg { quantized, .. } => predict_encrypted(ints, quantized, patients)?
                .into_iter()
                .map(Encrypted::Logreg)
                .collect(),
            Model::Trees { circuit, .. } => predict_forest_encrypted(ints, circuit, patients)?
                .into_iter()
                .map(Encrypted::Trees)
                .collect(),
        })
    }
}

impl Encrypted {
    fn decrypt(&self, client: &ClientKey) -> Result<(bool, u8), Error> {
        Ok(match self {
            Encrypted::Logreg(p) => (
                decrypt_bool(client, &p.malignant)?,
                decrypt_bool(client, &p.risk[0])? as u8 + decrypt_bool(client, &p.risk[1])? as u8,
            ),
            Encrypted::Trees(p) => (
                decrypt_bool(client, &p.malignant)?,
                client.decrypt_message_and_carry(p.votes.ciphertext())? as u8,
            ),
        })
    }
}

/// Encrypted diagnosis on a real dataset: the Breast Cancer Wisconsin (Diagnostic) test split
/// (114 patients, 30 features) is quantized and encrypted by the clinic; the server evaluates
/// the model with the server key only; the clinic decrypts. Prints the accuracy of the float
/// model, of its quantized clear twin and of the encrypted evaluation, their agreement, PBS per
/// prediction, predictions per second and the confusion matrix.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "logreg")]
    pub model: ModelKind,
    /// Evaluate only the first N test patients (default: all 114).
    #[arg(long)]
    pub patients: Option<usize>,
    #[command(flatten)]
    pub params: ParamsArg,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Serialize)]
struct PredictReport {
    model: &'static str,
    params: &'static str,
    security: String,
    backend: String,
    threads: usize,
    train_patients: usize,
    test_patients: usize,
    /// The quantized model in words.
    model_detail: String,
    float_accuracy: f64,
    quantized_accuracy: f64,
    encrypted_accuracy: f64,
    agreement: usize,
    pbs: u64,
    pbs_per_prediction: f64,
    server_s: f64,
    predictions_per_s: f64,
    /// [[true benign, false malignant], [false benign, true malignant]] of the encrypted
    /// predictions against the diagnosis.
    confusion: [[usize; 2]; 2],
}

impl Report for PredictReport {
    fn print_table(&self) {
        println!(
            "Breast Cancer Wisconsin (Diagnostic): {} training, {} test patients, 30 features quantized to {} bits",
            self.train_patients, self.test_patients, FEATURE_BITS
        );
        println!(
            "model {}: {}; {} ({}), backend {}, {} threads",
            self.model, self.model_detail, self.params, self.security, self.backend, self.threads
        );
        println!();
        println!("| accuracy on the test split | |");
        println!("|---|---:|");
        println!("| float model | {:.1} % |", 100.0 * self.float_accuracy);
        println!(
            "| quantized, clear | {:.1} % |",
            100.0 * self.quantized_accuracy
        );
        println!("| encrypted | {:.1} % |", 100.0 * self.encrypted_accuracy);
        println!();
        println!(
            "encrypted = quantized clear on {}/{} patients ({})",
            self.agreement,
            self.test_patients,
            if self.model == "random forest" {
                "diagnosis and votes"
            } else {
                "diagnosis and risk level"
            }
        );
        println!(
            "server: {} PBS in {:.2} s: {:.1} PBS per prediction, {:.2} predictions/s",
            self.pbs, self.server_s, self.pbs_per_prediction, self.predictions_per_s
        );
        println!();
        println!("confusion (encrypted)   predicted benign   predicted malignant");
        println!(
            "  benign                {:>16}   {:>19}",
            self.confusion[0][0], self.confusion[0][1]
        );
        println!(
            "  malignant             {:>16}   {:>19}",
            self.confusion[1][0], self.confusion[1][1]
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let params = args.params.resolve()?;
    let backend = args.backend.open()?;
    let backend_name = backend.name().to_string();
    let (train, mut test) = breast_cancer().split(TEST_FRACTION, SPLIT_SEED);
    if let Some(n) = args.patients {
        if n == 0 {
            return Err(CliError::Usage("at least one patient".into()).into());
        }
        test.features.truncate(n);
        test.malignant.truncate(n);
    }
    let quantizer = Quantizer::fit(&train, FEATURE_BITS);
    let layout = RadixLayout::new(params)?;
    let model = Model::train(args.model, &train, &quantizer, &layout)?;
    let accuracy = |predict: &dyn Fn(usize) -> bool| {
        (0..test.len())
            .filter(|&i| predict(i) == test.malignant[i])
            .count() as f64
            / test.len() as f64
    };
    let quantized: Vec<Vec<u64>> = test
        .features
        .iter()
        .map(|x| quantizer.quantize(x))
        .collect();
    let float_accuracy = accuracy(&|i| model.float_predict(&quantizer.scale(&test.features[i])));
    let clear: Vec<(bool, u8)> = quantized.iter().map(|x| model.clear(x)).collect();
    let quantized_accuracy = accuracy(&|i| clear[i].0);

    // Clinic: keys, quantized and encrypted features.
    let client = ClientKey::new(params)?;
    let server_key = Arc::new(server_key_with_bar(args.output, params, |p| {
        client.server_key_with_progress(p)
    })?);
    let encrypted: Vec<Vec<RadixCiphertext>> = quantized
        .par_iter()
        .map(|x| {
            x.iter()
                .map(|&v| encrypt_radix(&client, v, layout.blocks(FEATURE_BITS)))
                .collect()
        })
        .collect::<Result<_, Error>>()?;

    // Server: the server key only; patients in chunks, each chunk one batch of bootstraps.
    let driver = Driver::new(backend, server_key.clone(), DriverConfig::default())?;
    let ints = IntegerServer::new(&driver, &server_key)?;
    let bar = progress_bar(
        args.output,
        test.len() as u64,
        "predicting {bar:40} {pos}/{len} patients [{elapsed}]",
    );
    let before = driver.stats();
    let t = Instant::now();
    let mut predictions = Vec::with_capacity(test.len());
    for chunk in encrypted.chunks(16) {
        predictions.extend(model.predict_encrypted(&ints, chunk)?);
        bar.inc(chunk.len() as u64);
    }
    let server_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let pbs = driver.stats().completed - before.completed;

    // Clinic: decrypt, compare.
    let mut agreement = 0;
    let mut confusion = [[0usize; 2]; 2];
    let mut decrypted = Vec::with_capacity(test.len());
    for (p, want) in predictions.iter().zip(&clear) {
        let (malignant, detail) = p.decrypt(&client)?;
        agreement += ((malignant, detail) == *want) as usize;
        decrypted.push(malignant);
    }
    for (i, &m) in decrypted.iter().enumerate() {
        confusion[test.malignant[i] as usize][m as usize] += 1;
    }
    let report = PredictReport {
        model: model.name(),
        params: params.name,
        security: security_level(params),
        backend: backend_name,
        threads: threads(),
        train_patients: train.len(),
        test_patients: test.len(),
        model_detail: model.describe(),
        float_accuracy,
        quantized_accuracy,
        encrypted_accuracy: accuracy(&|i| decrypted[i]),
        agreement,
        pbs,
        pbs_per_prediction: pbs as f64 / test.len() as f64,
        server_s,
        predictions_per_s: test.len() as f64 / server_s,
        confusion,
    };
    report.emit(args.output);
    check_passed(
        test.len() - agreement,
        test.len(),
        "encrypted predictions differing from the quantized clear model",
    )
}
