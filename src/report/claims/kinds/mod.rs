//! One module per claim kind, each with the one function that judges it ([`judge`]
//! dispatches); [`series`] is how several of them group cells.

mod comm_grows_as_link_slows;
mod ensemble_beats_best_member;
mod faster_than_baseline;
mod fewer_numbers_wins;
mod gather_bcast_loses_more;
mod gpu_crossover;
mod gpu_faster;
mod grows_with_n;
mod identical_weights;
mod linear_in_n;
mod model_predicts;
mod same_final_cost;
mod scales_better_than_baseline;
pub mod series;
mod speedup;
mod sync_ratio;
mod test_accuracy;
mod weak_efficiency;

use super::Kind;
use super::judge::Judge;
use super::record::Verdict;

/// The verdict of the claim `judge` holds, by the rule of its kind.
pub(super) fn judge(judge: &Judge) -> Verdict {
    let rule = match judge.claim.kind {
        Kind::GrowsWithN => grows_with_n::judge,
        Kind::LinearInN => linear_in_n::judge,
        Kind::Speedup => speedup::judge,
        Kind::WeakEfficiency => weak_efficiency::judge,
        Kind::SameFinalCost => same_final_cost::judge,
        Kind::TestAccuracy => test_accuracy::judge,
        Kind::SyncRatio => sync_ratio::judge,
        Kind::GpuFaster => gpu_faster::judge,
        Kind::GpuCrossover => gpu_crossover::judge,
        Kind::CommGrowsAsLinkSlows => comm_grows_as_link_slows::judge,
        Kind::GatherBcastLosesMore => gather_bcast_loses_more::judge,
        Kind::ModelPredicts => model_predicts::judge,
        Kind::FasterThanBaseline => faster_than_baseline::judge,
        Kind::ScalesBetterThanBaseline => scales_better_than_baseline::judge,
        Kind::EnsembleBeatsBestMember => ensemble_beats_best_member::judge,
        Kind::IdenticalWeights => identical_weights::judge,
        Kind::FewerNumbersWins => fewer_numbers_wins::judge,
    };
    rule(judge)
}
