//! `dpstudy model`.

use crate::cli::args::ModelArgs;
use crate::report::cost_model;

/// `dpstudy model`: fits the cost model to results directories, prints and writes its
/// tables (M1-M3).
pub fn cost_model(args: &ModelArgs) -> anyhow::Result<()> {
    let model = cost_model::model_command(&args.dirs, &args.out, args.paper_dir.as_deref())?;
    for t in model.tables() {
        println!("{}", t.markdown());
    }
    if let Some(worst) = model.worst_prediction() {
        eprintln!(
            "model: {} predictions; the worst {:+.1}% ({})",
            model.predictions.len(),
            100.0 * worst.relative_error(),
            worst.cell
        );
    }
    Ok(())
}
