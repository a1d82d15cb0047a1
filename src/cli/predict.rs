//! `glovebox predict`: encrypted inference on the Breast Cancer Wisconsin test split.

use super::{
    check_passed, progress_bar, security_level, server_key_with_bar, threads, BackendArg,
    CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::driver::{Driver, DriverConfig};
use glovebox::inference::*;
use glovebox::prelude::*;
use glovebox_integer::{decrypt_bool, encrypt_radix, IntegerServer, RadixCiphertext, RadixLayout};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// The models `predict` evaluates.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Logistic regression: the encrypted score, its sign (the diagnosis) and a risk level.
    Logreg,
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
    weights: Vec<i64>,
    bias: i64,
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
            "model {}: weights {:?}, bias {}; {} ({}), backend {}, {} threads",
            self.model,
            self.weights,
            self.bias,
            self.params,
            self.security,
            self.backend,
            self.threads
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
            "encrypted = quantized clear on {}/{} patients (diagnosis and risk level)",
            self.agreement, self.test_patients
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
            return Err(Error::InvalidParameters("at least one patient".into()).into());
        }
        test.features.truncate(n);
        test.malignant.truncate(n);
    }
    let quantizer = Quantizer::fit(&train, FEATURE_BITS);
    let float = FloatLogReg::train(&train, &quantizer, ALPHA)?;
    let model = QuantizedLogReg::quantize(&float, FEATURE_BITS, MAX_WEIGHT);
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
    let float_accuracy = accuracy(&|i| float.predict(&quantizer.scale(&test.features[i])));
    let clear: Vec<(bool, u8)> = quantized.iter().map(|x| model.predict_clear(x)).collect();
    let quantized_accuracy = accuracy(&|i| clear[i].0);

    // Clinic: keys, quantized and encrypted features.
    let client = ClientKey::new(params)?;
    let server_key = Arc::new(server_key_with_bar(args.output, params, |p| {
        client.server_key_with_progress(p)
    })?);
    let layout = RadixLayout::new(params)?;
    let encrypted: Vec<Vec<RadixCiphertext>> = quantized
        .par_iter()
        .map(|x| {
            x.iter()
                .map(|&v| encrypt_radix(&client, v, layout.blocks(FEATURE_BITS)))
                .collect()
        })
        .collect::<Result<_>>()?;

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
        predictions.extend(predict_encrypted(&ints, &model, chunk)?);
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
        let malignant = decrypt_bool(&client, &p.malignant)?;
        let risk =
            decrypt_bool(&client, &p.risk[0])? as u8 + decrypt_bool(&client, &p.risk[1])? as u8;
        agreement += ((malignant, risk) == *want) as usize;
        decrypted.push(malignant);
    }
    for (i, &m) in decrypted.iter().enumerate() {
        confusion[test.malignant[i] as usize][m as usize] += 1;
    }
    let report = PredictReport {
        model: "logistic regression",
        params: params.name,
        security: security_level(params),
        backend: backend_name,
        threads: threads(),
        train_patients: train.len(),
        test_patients: test.len(),
        weights: model.weights.clone(),
        bias: model.bias,
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
